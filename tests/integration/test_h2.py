"""HTTP/2 to the gateway: every tunnel a CONNECT stream on one TLS connection (issue 5).

arcproxy (workers = 1, agent.conf gateway.protocol "h2") in gateway mode, cloudsim as the gateway.

Expectations:
- 200 concurrent tunnels, each a TLS session to echo.cloudsim.test carrying a 256 KiB download whose
  SHA-256 is checked, are open at once on exactly one TCP connection to the gateway (counted with ss);
  streams_open reaches 200, streams_total grows by 200, and no second connection is ever made.
- Trouble on one tunnel stays on that tunnel: a client that vanishes mid-download (its stream is
  reset: stream_resets_total{reason="cancelled"}), a client that stops reading a 64 MiB download, an
  upload into a target that never reads, and a target that resets its connection (the gateway resets
  only that stream: {reason="peer_reset"}) leave 20 parallel 1 MiB downloads intact and within a
  bound of their time without the trouble, on the same single connection.
- A target that sends its FIN first still gets all 8 MiB the client sends afterwards, then a FIN.
- The gateway's RST_STREAM (its target reset) reaches the client as a TCP reset (RFC 9113 8.5), not
  as a clean EOF that leaves the client writing into a dead tunnel.
- arcproxy stopped (SIGTERM, drain time over) while an h2 upload is backpressured exits 0 with no
  sanitizer report.
- SIGTERM to the gateway sends GOAWAY (arcproxy logs it) and ends its tunnels; SIGKILL mid-transfer
  ends every affected tunnel at once (EOF, no hang), arcproxy logs why and counts
  {reason="connection_lost"}; after each restart new tunnels work again (bounded poll), still on one
  connection, with no restart of arcproxy.
- Interop: nghttpx in secure proxy mode in front of Squid, as the gateway: arcproxy tunnels through
  it over h2 (one connection, arcproxy_gateway_connections{protocol="h2"} 1), bytes checked, and
  Squid logs the CONNECTs.
- gateway.protocol "http/1.1" against the h2-capable cloudsim still tunnels, on HTTP/1.1
  connections (the gateway logs proto=http/1.1); "auto" picks h2.
- No sanitizer report from any arcproxy or cloudsim.
"""

import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import harness
import test_cloudsim as tcs
from harness import Conn, check, free_port, poll, test, wait_port

TUNNELS = 200
TUNNEL_BYTES = 256 << 10
MIB64 = 64 << 20
SQUID = shutil.which("squid") or "/usr/sbin/squid"
NGHTTPX = shutil.which("nghttpx") or "/usr/sbin/nghttpx"


# --- targets behind the gateway that misbehave ------------------------------------

class Target:
	"""A TCP target: "stall" accepts and never reads; "reset" resets after the first byte;
	"finfirst" sends its FIN at once, then reads slowly to EOF and records the byte count."""

	def __init__(self, mode):
		self.mode = mode
		self.port = free_port()
		self.sock = socket.socket()
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind(("127.0.0.1", self.port))
		self.sock.listen(16)
		self.sock.settimeout(0.2)
		self.held = []
		self.counts = []	# finfirst: bytes read on each connection
		self.stop = False
		self.thread = threading.Thread(target=self._run, daemon=True)
		self.thread.start()

	def _run(self):
		for _ in range(1000000):
			if self.stop:
				return
			try:
				s, _ = self.sock.accept()
			except OSError:
				continue
			if self.mode == "stall":
				self.held.append(s)
				continue
			if self.mode == "finfirst":
				threading.Thread(target=self._slow_read, args=(s,), daemon=True).start()
				continue
			try:
				s.settimeout(5)
				s.recv(1)
			except OSError:
				pass
			s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			s.close()

	def _slow_read(self, s):
		n = 0
		with s:
			s.shutdown(socket.SHUT_WR)
			s.settimeout(10)
			try:
				for _ in range(1 << 20):
					d = s.recv(65536)
					if not d:
						break
					n += len(d)
					time.sleep(0.005)
			except OSError:
				n = -n - 1
		self.counts.append(n)

	def release(self):
		"""Start reading (and discarding) on the connections held so far, each until its EOF."""
		held, self.held = self.held, []
		for s in held:
			threading.Thread(target=self._drain, args=(s,), daemon=True).start()

	@staticmethod
	def _drain(s):
		with s:
			s.settimeout(10)
			try:
				for _ in range(1 << 20):
					if not s.recv(1 << 20):
						return
			except OSError:
				pass

	def drop(self):
		"""Reset the connections held so far."""
		held, self.held = self.held, []
		for s in held:
			s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			s.close()

	def close(self):
		self.stop = True
		self.thread.join(2)
		self.drop()
		self.sock.close()


class H2Sim(tcs.Sim):
	"""cloudsim with the misbehaving targets in its host table."""

	def __init__(self, targets, pki=None):
		super().__init__()
		self.targets = targets
		if pki:
			self.pki = pki

	def settings(self):
		s = super().settings()
		for name, t in self.targets.items():
			s["hosts"].append({"name": "%s.cloudsim.test" % name, "target": "127.0.0.1:%d" % t.port})
		return s

	def start(self):
		try:
			self.stderr_file.close()	# a restart opens it again
		except AttributeError:
			pass
		return super().start()


# --- the module's environment ---------------------------------------------------------

class Env:
	def __init__(self):
		self.sim = None
		self.sims = []		# tcs.stop_others stops these and self.proxies
		self.proxies = []
		self.proxy = None	# the main arcproxy (run.py prints its stderr on failures)
		self.targets = {}
		self.squid = None
		self.nghttpx = None
		self.ctx = None		# trusts the sim's CA: TLS to echo inside tunnels


def setup():
	env = Env()
	try:
		env.targets = {"stall": Target("stall"), "reset": Target("reset"),
			       "finfirst": Target("finfirst")}
		sim = env.sim = H2Sim(env.targets)
		for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1")):
			r = sim.run(*args)
			check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode,
										 r.stderr.strip()))
		sim.write_config()
		sim.start()
		env.ctx = ssl.create_default_context(cafile=sim.file("ca.crt"))
		env.proxy = tcs.arcproxy_via(env, "h2", name="h2main")
		r = poll(lambda: download(env, 1000), timeout=5)
		check(r == tcs.pattern(1000), "first tunnel over h2: %r" % r)
	except BaseException:
		teardown(env)
		raise
	return env


def teardown(env):
	for proc in (env.nghttpx, env.squid):
		if proc is not None and proc.poll() is None:
			proc.terminate()
			try:
				proc.wait(5)
			except subprocess.TimeoutExpired:
				proc.kill()
				proc.wait(5)
	problems = tcs.stop_others(env)
	for t in env.targets.values():
		t.close()
	if env.sim is not None:
		crashed = env.sim.proc.poll() if env.sim.proc else None
		if crashed is not None:
			problems.append("cloudsim had exited with status %s\n%s" % (crashed, env.sim.stderr_tail()))
		rc = env.sim.stop()
		if crashed is None and rc != 0:
			problems.append("cloudsim exited %s on SIGTERM\n%s" % (rc, env.sim.stderr_tail()))
		rep = env.sim.sanitizer_report()
		if rep:
			problems.append("cloudsim sanitizer: %s\n%s" % (rep, env.sim.stderr_tail(40)))
		if not problems:
			env.sim.cleanup()
	return problems


# --- clients -----------------------------------------------------------------------------

def open_tunnel(p, dest="echo.cloudsim.test:443", timeout=20):
	"""A CONNECT tunnel through arcproxy p: the Conn, after a 200."""
	c = Conn(p.port, timeout)
	r = c.connect_tunnel(dest)
	if r.status != 200:
		c.close()
		raise AssertionError("CONNECT %s: %r %s" % (dest, r, r.header("proxy-status")))
	return c


def tls_inside(env, c, host="echo.cloudsim.test"):
	"""TLS to host inside the tunnel c (echo speaks first only after our hello: buf is empty)."""
	check(c.buf == b"", "bytes before the TLS hello: %r" % c.buf[:40])
	c.sock = env.ctx.wrap_socket(c.sock, server_hostname=host)
	return c


def download(env, n, p=None, host="echo.cloudsim.test", port=443):
	"""GET /bytes/n from echo through a fresh tunnel: the body."""
	with tls_inside(env, open_tunnel(p or env.proxy, "%s:%d" % (host, port)), host) as c:
		c.request("GET", "/bytes/%d" % n, [("Connection", "close")], host=host)
		r = c.read_response()
		finish(c)
	check(r.status == 200, "GET /bytes/%d: %r" % (n, r))
	return r.body


def finish(c):
	"""Read to the end (echo's close_notify and EOF): closing with unread bytes would be a reset."""
	check(c.read_to_eof(limit=1 << 16) == b"", "bytes after the response")


def abort(c):
	"""Close with a reset, as a client that vanishes does."""
	c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	c.close()


def parallel(count, fn, timeout=60):
	"""Run fn(i) in count threads; returns (seconds, [error or None])."""
	errors = [None] * count

	def run(i):
		try:
			fn(i)
		except BaseException as e:	# reported by the caller
			errors[i] = "%s: %s" % (type(e).__name__, e)
	threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
	t0 = time.monotonic()
	for t in threads:
		t.start()
	for t in threads:
		t.join(max(0.1, timeout - (time.monotonic() - t0)))
	for i, t in enumerate(threads):
		if t.is_alive():
			errors[i] = "still running after %ds" % timeout
	return time.monotonic() - t0, errors


def downloads(env, count, n, p=None, timeout=60):
	"""count parallel downloads of n bytes, each hash-checked: seconds taken."""
	want = hashlib.sha256(tcs.pattern(n)).hexdigest()

	def one(i):
		body = download(env, n, p)
		check(hashlib.sha256(body).hexdigest() == want, "download #%d: %d bytes, hash differs"
		      % (i, len(body)))
	dt, errors = parallel(count, one, timeout)
	bad = [e for e in errors if e]
	check(not bad, "%d of %d downloads failed; first: %s" % (len(bad), count, bad[0] if bad else ""))
	return dt


def gateway_conns(port):
	"""Established TCP connections to port on loopback (each counted once, from the client's end)."""
	out = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :%d )" % port],
			     capture_output=True, text=True, timeout=10).stdout
	return len([line for line in out.splitlines() if line.strip()])


def metric(p, name, **labels):
	return harness.metric_sum(p.metrics(), name, **labels)


def resets(p, reason):
	return metric(p, "arcproxy_gateway_stream_resets_total", reason=reason)


# --- 1. many tunnels, one connection ----------------------------------------------

@test(timeout=60)
def two_hundred_tunnels_one_connection(env):
	p, sim = env.proxy, env.sim
	streams0 = metric(p, "arcproxy_gateway_streams_total")
	conns0 = metric(p, "arcproxy_gateway_connections_total")
	resets0 = metric(p, "arcproxy_gateway_stream_resets_total")
	want = hashlib.sha256(tcs.pattern(TUNNEL_BYTES)).hexdigest()
	opened = threading.Barrier(TUNNELS + 1, timeout=40)
	go = threading.Barrier(TUNNELS + 1, timeout=40)

	def one(i):
		try:
			c = tls_inside(env, open_tunnel(p, timeout=40))
		except BaseException:
			opened.abort()
			raise
		with c:
			opened.wait()
			go.wait()
			c.request("GET", "/bytes/%d" % TUNNEL_BYTES, [("Connection", "close")],
				  host="echo.cloudsim.test")
			r = c.read_response()
			check(r.status == 200 and hashlib.sha256(r.body).hexdigest() == want,
			      "tunnel #%d: %r, hash %s" % (i, r, hashlib.sha256(r.body).hexdigest()[:12]))
			finish(c)

	box = {}
	runner = threading.Thread(target=lambda: box.update(result=parallel(TUNNELS, one, 50)), daemon=True)
	runner.start()
	try:
		opened.wait()
	except threading.BrokenBarrierError:
		go.abort()
		runner.join(50)
		errs = [e for e in box.get("result", (0, []))[1] if e]
		raise AssertionError("not all %d tunnels opened; first error: %s\n%s"
				     % (TUNNELS, errs[0] if errs else "?", p.stderr_tail(8)))
	n = gateway_conns(sim.gw_port)
	m = p.metrics()
	open_streams = harness.metric_sum(m, "arcproxy_gateway_streams_open")
	go.wait()
	runner.join(55)
	check(not runner.is_alive(), "the downloads did not finish")
	dt, errors = box["result"]
	bad = [e for e in errors if e]
	check(not bad, "%d of %d tunnels failed; first: %s" % (len(bad), TUNNELS, bad[0] if bad else ""))
	check(n == 1, "%d TCP connections to the gateway with %d tunnels open, not 1" % (n, TUNNELS))
	check(open_streams == TUNNELS, "arcproxy_gateway_streams_open %d with %d tunnels open"
	      % (open_streams, TUNNELS))
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 1,
	      "arcproxy_gateway_connections{protocol=\"h2\"} is not 1")
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_streams_total") - streams0 == TUNNELS,
	      "streams_total grew by %d for %d tunnels" % (
		      harness.metric_sum(m, "arcproxy_gateway_streams_total") - streams0, TUNNELS))
	check(harness.metric_sum(m, "arcproxy_gateway_connections_total") == conns0,
	      "a second connection to the gateway was made")
	check(harness.metric_sum(m, "arcproxy_gateway_stream_resets_total") == resets0,
	      "%d streams were reset, though every tunnel ended with EOF both ways" % (
		      harness.metric_sum(m, "arcproxy_gateway_stream_resets_total") - resets0))
	check(poll(lambda: metric(p, "arcproxy_gateway_streams_open") == 0, timeout=5),
	      "streams stay open after the tunnels closed")
	check(gateway_conns(sim.gw_port) == 1, "the connection did not stay up after the burst")
	lines = re.findall(r"connect echo\.cloudsim\.test:443 machine=m1 .*status=200 up=\d+ down=(\d+) .*proto=h2$",
			   sim.stderr_text(), re.M)
	check(len([d for d in lines if int(d) >= TUNNEL_BYTES]) >= TUNNELS,
	      "the gateway logged %d h2 tunnels of %d+ bytes, not %d" % (
		      len([d for d in lines if int(d) >= TUNNEL_BYTES]), TUNNEL_BYTES, TUNNELS))


# --- 2. trouble on one tunnel stays there ----------------------------------------------

@test(timeout=60)
def trouble_on_one_tunnel_spares_the_others(env):
	p, sim = env.proxy, env.sim
	batch, n = 20, 1 << 20
	baseline = downloads(env, batch, n)
	conns0 = metric(p, "arcproxy_gateway_connections_total")
	cancelled0, peer0 = resets(p, "cancelled"), resets(p, "peer_reset")
	held = []
	try:
		# A reader that stops: 64 MiB asked for, 1 MiB read, then nothing.
		c = tls_inside(env, open_tunnel(p))
		held.append(c)
		c.request("GET", "/bytes/%d" % MIB64, host="echo.cloudsim.test")
		check(c.read_head()[0] == 200, "the stalled download did not start")
		c.read_exact(1 << 20)
		# An upload into a target that never reads, pushed until it blocks.
		c = open_tunnel(p, "stall.cloudsim.test:443")
		held.append(c)
		c.sock.settimeout(0.5)
		sent = 0
		try:
			for _ in range(4096):
				sent += c.sock.send(b"\0" * 65536)
		except socket.timeout:
			pass
		check(sent < MIB64, "%d bytes went into a target that never reads" % sent)
		# A client that vanishes mid-download: its socket reset.
		c = tls_inside(env, open_tunnel(p))
		c.request("GET", "/bytes/%d" % MIB64, host="echo.cloudsim.test")
		check(c.read_head()[0] == 200, "the vanishing download did not start")
		c.read_exact(1 << 20)
		abort(c)
		# A target that resets its connection: only that stream is reset.
		with open_tunnel(p, "reset.cloudsim.test:443") as c:
			c.send(b"x")
			check(c.at_eof(timeout=5), "the reset target's tunnel did not end")
		troubled = downloads(env, batch, n)
		bound = 3 * baseline + 2.0
		check(troubled < bound, "%d downloads of 1 MiB took %.2fs next to the trouble, %.2fs without "
		      "(bound %.2fs)" % (batch, troubled, baseline, bound))
		check(gateway_conns(sim.gw_port) == 1, "not one connection to the gateway during the trouble")
		check(poll(lambda: resets(p, "cancelled") > cancelled0, timeout=3),
		      "stream_resets_total{reason=\"cancelled\"} did not move for the vanished client")
		check(poll(lambda: resets(p, "peer_reset") > peer0, timeout=3),
		      "stream_resets_total{reason=\"peer_reset\"} did not move for the reset target")
		check(metric(p, "arcproxy_gateway_streams_open") == 2,
		      "streams_open %d with the two stalled tunnels open" % metric(p, "arcproxy_gateway_streams_open"))
		check(sim.log_has(r"connect echo\.cloudsim\.test:443 .*proto=h2 error=connection_terminated "
				  r"\(the client reset the stream \(CANCEL\)\)"),
		      "the gateway did not log the client's reset\n" + sim.stderr_tail(5))
		check(sim.log_has(r"connect reset\.cloudsim\.test:443 .*proto=h2 error=connection_terminated "
				  r"\(target (read|write): "), "the gateway did not log the target's reset\n"
		      + sim.stderr_tail(5))
	finally:
		for c in held:
			abort(c)
	# The stalled upload's client is not read (backpressure), so its going is seen once the
	# target reads again: then its stream is reset too.
	cancelled0 = resets(p, "cancelled")
	env.targets["stall"].release()
	check(poll(lambda: metric(p, "arcproxy_gateway_streams_open") == 0, timeout=5),
	      "streams stay open after the stalled clients left and the stalled target read again")
	check(resets(p, "cancelled") > cancelled0, "the stalled upload's stream was not reset")
	check(metric(p, "arcproxy_gateway_connections_total") == conns0, "the trouble cost a reconnection")
	check(download(env, 1000) == tcs.pattern(1000), "a tunnel after the trouble")


@test
def target_fin_first_then_all_client_bytes(env):
	"""The target half-closes first; the client's 8 MiB still all arrive, then its FIN."""
	p, sim = env.proxy, env.sim
	t = env.targets["finfirst"]
	data = os.urandom(8 << 20)
	with open_tunnel(p, "finfirst.cloudsim.test:443") as c:
		check(c.at_eof(timeout=5) is True, "the target's FIN did not arrive as EOF")
		c.settimeout(20)
		c.send(data)
		c.shutdown_wr()
	check(poll(lambda: t.counts, timeout=20), "the target never saw the client's EOF")
	check(t.counts[-1] == len(data), "the target read %d of %d bytes" % (t.counts[-1], len(data)))
	check(sim.log_has(r"connect finfirst\.cloudsim\.test:443 .*status=200 up=%d down=0 ms=\d+ proto=h2$"
			  % len(data), timeout=5), "no clean log line for the half-closed upload\n" + sim.stderr_tail(5))


@test(timeout=20)
def gateway_reset_resets_the_client(env):
	"""RFC 9113 8.5: the gateway's RST_STREAM reaches the client as a TCP reset, and the tunnel ends."""
	p = tcs.arcproxy_via(env, "h2", name="h2rst", start=False)
	p.settings["limits"]["tunnel_idle_timeout_ms"] = 4000	# what ends it if nothing else does
	p.write_config()
	p.start()
	peer0 = resets(p, "peer_reset")
	with open_tunnel(p, "reset.cloudsim.test:443") as c:
		c.send(b"x")		# the target resets on this byte; the gateway resets the stream
		check(poll(lambda: resets(p, "peer_reset") > peer0, timeout=5), "the gateway did not reset the stream")
		t0 = time.monotonic()
		c.settimeout(0.25)
		how = None
		for _ in range(200):	# keep writing, as a client that was not told would
			try:
				c.sock.send(b"y" * 65536)
			except (ConnectionResetError, BrokenPipeError) as e:
				how = e
				break
			except socket.timeout:
				pass
			if time.monotonic() - t0 > 2:
				break
	# Until then the tunnel ends at the latest by its idle timeout: wait for that, so that
	# no stuck tunnel is left at exit.
	lines = poll(lambda: [line for line in p.access_log_lines() if "CONNECT reset.cloudsim.test:443" in line],
		     timeout=6)
	check(how is not None, "2 s after the gateway reset the stream the client can still write to its "
	      "tunnel (no reset reached it); access log %r" % lines)


@test
def sigterm_with_a_stalled_upload_exits_clean(env):
	"""arcproxy stopped while an h2 tunnel's upload is backpressured: exit 0, nothing leaked."""
	p = tcs.arcproxy_via(env, "h2", name="h2stop")
	env.proxies.remove(p)		# judged here, not again by teardown
	c = open_tunnel(p, "stall.cloudsim.test:443")
	try:
		c.settimeout(0.5)
		sent = 0
		try:
			for _ in range(4096):
				sent += c.sock.send(b"\0" * 65536)
		except socket.timeout:
			pass
		rc = p.stop()
	finally:
		c.close()
		env.targets["stall"].release()
	rep = p.sanitizer_report()
	check(rc == 0 and not rep, "arcproxy stopped with a stalled h2 upload (%d bytes sent): exit %s%s"
	      % (sent, rc, "\n" + p.stderr_tail(12) if rep else ""))
	p.cleanup()


# --- 3. the gateway goes away, and comes back ---------------------------------------------

def recovers(env, p, sim, what, bound=20.0):
	"""Poll (bounded) until a tunnel through p works again; returns the seconds it took."""
	t0 = time.monotonic()
	for _ in range(200):
		try:
			if download(env, 1000, p) == tcs.pattern(1000):
				return time.monotonic() - t0
		except (OSError, EOFError, AssertionError):
			pass
		if time.monotonic() - t0 > bound:
			break
		time.sleep(0.2)
	raise AssertionError("no tunnel within %.0fs after %s\n%s" % (bound, what, p.stderr_tail(8)))


@test(timeout=80)
def gateway_stops_dies_and_returns(env):
	sim = H2Sim(env.targets, pki=env.sim.pki)
	env.sims.append(sim)
	sim.write_config()
	sim.start()
	p = tcs.arcproxy_via(env, "h2", sim=sim, name="h2kill")
	recovers(env, p, sim, "start", bound=5)
	pid = p.pid
	# SIGTERM: GOAWAY, then the gateway exits; its live tunnel ends.
	live = tls_inside(env, open_tunnel(p))
	try:
		sim.proc.send_signal(signal.SIGTERM)
		check(live.at_eof(timeout=5), "a tunnel outlived the gateway's SIGTERM")
	finally:
		live.close()
	check(sim.proc.wait(10) == 0, "cloudsim did not exit 0 on SIGTERM")
	check(poll(lambda: re.search(r"gateway: GOAWAY \(last stream \d+\)", p.stderr_text())),
	      "arcproxy did not log the gateway's GOAWAY\n" + p.stderr_tail(6))
	sim.start()
	recovers(env, p, sim, "SIGTERM and restart")
	# SIGKILL mid-transfer: every affected tunnel ends at once.
	lost0 = resets(p, "connection_lost")
	tunnels = []
	try:
		for _ in range(4):
			c = tls_inside(env, open_tunnel(p))
			tunnels.append(c)
			c.request("GET", "/bytes/%d" % MIB64, host="echo.cloudsim.test")
			check(c.read_head()[0] == 200, "a 64 MiB download did not start")
			c.read_exact(1 << 20)
		check(metric(p, "arcproxy_gateway_streams_open") == 4, "streams_open is not 4 before the kill")
		sim.kill()
		t0 = time.monotonic()
		for i, c in enumerate(tunnels):
			c.settimeout(max(0.5, 5 - (time.monotonic() - t0)))
			got = 1 << 20
			try:
				for _ in range(4096):
					d = c.sock.recv(1 << 20)
					if not d:
						break
					got += len(d)
			except (ssl.SSLError, ConnectionResetError, OSError) as e:
				check(not isinstance(e, socket.timeout), "tunnel #%d hangs after the gateway died" % i)
			check(got < MIB64, "tunnel #%d received all %d bytes from a dead gateway" % (i, got))
	finally:
		for c in tunnels:
			c.close()
	dt = time.monotonic() - t0
	check(dt < 5, "the tunnels took %.1fs to end after the kill" % dt)
	check(p.alive() and p.pid == pid, "arcproxy died with the gateway")
	check(poll(lambda: re.search(r"multiplexed connection ended: [^;\n]+; [4-9] streams closed", p.stderr_text())),
	      "arcproxy did not log why its streams ended\n" + p.stderr_tail(6))
	check(poll(lambda: resets(p, "connection_lost") - lost0 >= 4),
	      "stream_resets_total{reason=\"connection_lost\"} grew by %d, not 4" % (resets(p, "connection_lost") - lost0))
	check(poll(lambda: metric(p, "arcproxy_gateway_streams_open") == 0), "streams stay open after the kill")
	sim.start()
	recovers(env, p, sim, "SIGKILL and restart")
	downloads(env, 5, 1 << 20, p)
	check(gateway_conns(sim.gw_port) == 1, "not one connection after the restart")
	check(p.pid == pid and p.alive(), "arcproxy was restarted")


# --- 3b. memory held by nghttp2 (issue 15, defects 3 and 12) -----------------------------

UPLOADS = 8		# streams pushing at once: 8 x 4 MiB of window, past every kernel buffer


def push_until_blocked(c, bound=64 << 20):
	"""Send zeros until arcproxy stops reading (1 s without progress): bytes sent."""
	c.settimeout(1.0)
	sent = 0
	block = b"\0" * 65536
	try:
		while sent < bound:
			sent += c.sock.send(block)
	except (socket.timeout, OSError):
		pass
	return sent


@test(timeout=90)
def client_gone_while_data_frame_blocked(env):
	"""Uploads into a gateway that stopped reading (SIGSTOP): arcproxy's TLS output passes 1 MiB and
	nghttp2 holds a DATA frame it could not write.  The tunnels end (tunnel_idle_timeout_ms: the
	clients' resets are not seen while arcproxy does not read them) and their streams are reset;
	the gateway resumes, nghttp2 writes the held frame: the stream's memory must still be there."""
	sim = H2Sim(env.targets, pki=env.sim.pki)
	env.sims.append(sim)
	sim.write_config()
	sim.start()
	p = tcs.arcproxy_via(env, "h2", sim=sim, name="h2blocked", start=False)
	p.settings["limits"]["tunnel_idle_timeout_ms"] = 3000
	p.write_config()
	p.start()
	recovers(env, p, sim, "start", bound=5)
	pid = p.pid
	tunnels = [open_tunnel(p, "stall.cloudsim.test:443") for _ in range(UPLOADS)]
	sent = [0] * UPLOADS
	sim.proc.send_signal(signal.SIGSTOP)
	try:
		def one(i):
			sent[i] = push_until_blocked(tunnels[i])
		parallel(UPLOADS, one, timeout=40)
		for c in tunnels:
			abort(c)
		# The idle timeout closes the tunnels while the frame is held.
		check(poll(lambda: metric(p, "arcproxy_gateway_streams_open") == 0, timeout=8),
		      "streams stay open past tunnel_idle_timeout_ms")
	finally:
		sim.proc.send_signal(signal.SIGCONT)
		for c in tunnels:
			c.close()
	time.sleep(1.0)		# the held frame goes out, then the resets
	env.targets["stall"].drop()
	# Past arcproxy's TLS output limit (1 MiB) and what each stream buffers (256 KiB).
	check(sum(sent) > (1 << 20) + UPLOADS * (256 << 10),
	      "only %d bytes went out before the uploads blocked" % sum(sent))
	check(p.alive() and p.pid == pid, "arcproxy died: exit %s\n%s" % (p.proc.returncode, p.stderr_tail(30)))
	rep = p.sanitizer_report()
	check(not rep, "arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(30)))
	recovers(env, p, sim, "the gateway resumed", bound=10)
	check(gateway_conns(sim.gw_port) == 1, "not one connection to the gateway afterwards")


def small_window_tunnel(p, dest="echo.cloudsim.test:443"):
	"""open_tunnel from a client with a 4 KiB receive buffer: what it does not read stays in
	arcproxy, not in the kernel."""
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	s.settimeout(20)
	s.connect(("127.0.0.1", p.port))
	c = Conn.__new__(Conn)
	c.sock, c.buf = s, b""
	r = c.connect_tunnel(dest)
	if r.status != 200:
		c.close()
		raise AssertionError("CONNECT %s: %r" % (dest, r))
	return c


@test(timeout=90)
def vanished_readers_give_the_window_back(env):
	"""48 downloads of 64 MiB whose clients stop reading and then vanish: what each stream's
	window let in and nobody read goes back to the connection's window (64 MiB), so a download
	afterwards on the same connection still flows."""
	p = tcs.arcproxy_via(env, "h2", name="h2window")
	recovers(env, p, env.sim, "start", bound=5)
	for _ in range(6):
		batch = []
		try:
			for _ in range(8):
				c = tls_inside(env, small_window_tunnel(p))
				batch.append(c)
				c.request("GET", "/bytes/%d" % MIB64, host="echo.cloudsim.test")
				check(c.read_head()[0] == 200, "a 64 MiB download did not start")
			time.sleep(0.5)		# the stream windows fill up in arcproxy
		finally:
			for c in batch:
				abort(c)
	check(poll(lambda: metric(p, "arcproxy_gateway_streams_open") == 0, timeout=10),
	      "streams stay open after their clients vanished")
	t0 = time.monotonic()
	body = download(env, 1 << 20, p)
	check(body == tcs.pattern(1 << 20), "the download after the vanished readers differs")
	check(time.monotonic() - t0 < 10, "the download took %.1fs" % (time.monotonic() - t0))
	check(p.alive(), "arcproxy exited: %s\n%s" % (p.proc.returncode, p.stderr_tail()))


@test(timeout=60)
def sighup_during_h2_traffic(env):
	"""Reloads while tunnels open and close: each old gateway client is freed when its last
	tunnel goes (from the loop, never inside nghttp2); no sanitizer report, traffic goes on."""
	p = tcs.arcproxy_via(env, "h2", name="h2reload")
	recovers(env, p, env.sim, "start", bound=5)
	stop = threading.Event()
	errors = []

	def traffic(i):
		for _ in range(1000):
			if stop.is_set():
				return
			try:
				if i % 2:
					download(env, 64 << 10, p)
				else:
					c = open_tunnel(p)
					abort(c)
			except (OSError, EOFError, AssertionError) as e:
				errors.append("%s: %s" % (type(e).__name__, e))
	threads = [threading.Thread(target=traffic, args=(i,), daemon=True) for i in range(6)]
	for t in threads:
		t.start()
	try:
		for _ in range(10):
			time.sleep(0.3)
			p.reload()
	finally:
		stop.set()
		for t in threads:
			t.join(20)
	check(p.alive(), "arcproxy died during reloads: exit %s\n%s" % (p.proc.returncode, p.stderr_tail(30)))
	rep = p.sanitizer_report()
	check(not rep, "arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(30)))
	recovers(env, p, env.sim, "the reloads", bound=10)
	# A tunnel cut by a reload's new gateway client is fine; most must have worked.
	check(len(errors) < 20, "%d tunnels failed during the reloads; first: %s"
	      % (len(errors), errors[0] if errors else ""))


# --- 4. interop: nghttpx in front of Squid as the gateway -----------------------------------

def start_squid(env, allowed_port):
	"""Squid on loopback: CONNECT to allowed_port only, echo.cloudsim.test from a hosts file."""
	d = tempfile.mkdtemp(prefix="squid-h2-", dir=harness.tmp_root())
	os.chmod(d, 0o755)
	if os.geteuid() == 0:
		try:
			user = pwd.getpwnam("proxy")	# Debian's cache_effective_user
		except KeyError:
			user = pwd.getpwnam("nobody")
		os.chown(d, user.pw_uid, user.pw_gid)
	port = free_port()
	with open(os.path.join(d, "hosts"), "w") as f:
		f.write("127.0.0.1 echo.cloudsim.test\n")
	conf = os.path.join(d, "squid.conf")
	with open(conf, "w") as f:
		f.write("\n".join([
			"http_port 127.0.0.1:%d" % port, "workers 1",
			"acl echo_port port %d" % allowed_port,
			"http_access allow CONNECT echo_port", "http_access deny all",
			"cache deny all", "cache_mem 0 MB", "hosts_file %s/hosts" % d,
			"dns_nameservers 127.0.0.1", "access_log stdio:%s/access.log squid" % d,
			"cache_log %s/cache.log" % d, "cache_store_log none", "pid_filename %s/squid.pid" % d,
			"coredump_dir %s" % d, "shutdown_lifetime 0 seconds", "pinger_enable off",
			"buffered_logs off", ""]))
	os.chmod(conf, 0o644)
	log = open(os.path.join(d, "stderr.log"), "ab")
	env.squid = subprocess.Popen([SQUID, "-N", "-f", conf], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
	log.close()
	check(wait_port(port, 10, env.squid), "squid did not listen on %d" % port)
	return port, d


@test(timeout=40)
def nghttpx_and_squid_as_the_gateway(env):
	if not os.path.exists(SQUID) or not os.path.exists(NGHTTPX):
		raise harness.Skip("squid or nghttpx is not installed")
	sim = env.sim
	squid_port, squid_dir = start_squid(env, sim.echo_port)
	port = free_port()
	log = open(os.path.join(squid_dir, "nghttpx.log"), "ab")
	env.nghttpx = subprocess.Popen([NGHTTPX, "--conf=/dev/null", "-s", "--frontend=127.0.0.1,%d" % port,
					"--backend=127.0.0.1,%d" % squid_port, "--no-ocsp", "--workers=1",
					sim.file("gateway.key"), sim.file("gateway.crt")],
				       stdin=subprocess.DEVNULL, stdout=log, stderr=log)
	log.close()
	check(wait_port(port, 10, env.nghttpx), "nghttpx did not listen on %d" % port)
	p = tcs.arcproxy_via(env, "h2", gateway_port=port, routes=[{"match": "*", "route": "gateway"}],
			     name="h2nghttpx")
	n = 4 << 20
	want = hashlib.sha256(tcs.pattern(n)).hexdigest()
	first = None
	for _ in range(20):	# the first attempt may meet the connection still starting
		try:
			first = download(env, n, p, port=sim.echo_port)
			break
		except (OSError, EOFError, AssertionError) as e:
			first = e
			time.sleep(0.25)
	check(isinstance(first, bytes) and hashlib.sha256(first).hexdigest() == want,
	      "4 MiB through arcproxy -> nghttpx -> squid -> echo: %r\n%s" % (
		      first if not isinstance(first, bytes) else "hash differs", p.stderr_tail(8)))

	def one(i):
		body = download(env, 1 << 20, p, port=sim.echo_port)
		check(body == tcs.pattern(1 << 20), "parallel download #%d through nghttpx differs" % i)
	dt, errors = parallel(10, one, 30)
	bad = [e for e in errors if e]
	check(not bad, "%d of 10 parallel tunnels through nghttpx failed: %s" % (len(bad), bad[0] if bad else ""))
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 1 and
	      harness.metric_sum(m, "arcproxy_gateway_connections", protocol="http/1.1") == 0,
	      "arcproxy's connections to nghttpx: %r" % {dict(k[1]).get("protocol"): v for k, v in m.items()
							  if k[0] == "arcproxy_gateway_connections"})
	check(harness.metric_sum(m, "arcproxy_gateway_streams_total") >= 11, "streams_total < 11")
	check(gateway_conns(port) == 1, "%d connections to nghttpx, not 1" % gateway_conns(port))
	access = os.path.join(squid_dir, "access.log")
	check(poll(lambda: os.path.exists(access) and
		   len(re.findall(r"CONNECT echo\.cloudsim\.test:%d" % sim.echo_port, open(access).read())) >= 11),
	      "squid's access log lacks the CONNECTs")
	# Squid refuses another port: an answer, not a hang.
	t0 = time.monotonic()
	with Conn(p.port, 10) as c:
		r = c.connect_tunnel("echo.cloudsim.test:%d" % sim.gw_port)
	check(r.status in (403, 502) and time.monotonic() - t0 < 5,
	      "CONNECT that squid refuses: %r after %.1fs" % (r, time.monotonic() - t0))


# --- 5. forcing the protocol ---------------------------------------------------------------

@test(timeout=40)
def protocol_http11_and_auto(env):
	sim = env.sim
	p = tcs.arcproxy_via(env, "http/1.1", name="h1forced")
	check(download(env, 1 << 20, p) == tcs.pattern(1 << 20), "a tunnel with protocol http/1.1")
	downloads(env, 5, 256 << 10, p)
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 0 and
	      harness.metric_sum(m, "arcproxy_gateway_connections_total") >= 2 and
	      harness.metric_sum(m, "arcproxy_gateway_streams_total") == 0,
	      "protocol http/1.1: h2 connections %d, connections made %d, streams %d" % (
		      harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2"),
		      harness.metric_sum(m, "arcproxy_gateway_connections_total"),
		      harness.metric_sum(m, "arcproxy_gateway_streams_total")))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 .*down=\d{7,} ms=\d+ proto=http/1\.1$"),
	      "the gateway did not log an http/1.1 tunnel\n" + sim.stderr_tail(5))
	a = tcs.arcproxy_via(env, "auto", name="h2auto")
	downloads(env, 5, 256 << 10, a)
	m = a.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 1 and
	      harness.metric_sum(m, "arcproxy_gateway_streams_total") >= 5,
	      "protocol auto did not pick h2: %r" % {k[0]: v for k, v in m.items() if "gateway_" in k[0]})


@test
def no_sanitizer_reports(env):
	for q in env.proxies:
		rep = q.sanitizer_report()
		check(not rep, "sanitizer report from arcproxy %s: %s" % (q.base, rep))
	for s in [env.sim] + env.sims:
		rep = s.sanitizer_report()
		check(not rep, "sanitizer report from cloudsim %s: %s" % (s.base, rep))
