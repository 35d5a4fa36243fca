"""HTTP/2 to the gateway, recovery: the gateway goes away, stalls, loses its readers, or reloads.

Expectations:
- SIGTERM to the gateway sends GOAWAY (arcproxy logs it) and ends its tunnels; SIGKILL mid-transfer
  ends every affected tunnel at once (EOF, no hang), arcproxy logs why and counts
  {reason="connection_lost"}; after each restart new tunnels work again (bounded poll), still on one
  connection, with no restart of arcproxy.
- Memory held by nghttp2 (issue 15, defects 3 and 12): uploads into a gateway that stopped reading,
  whose clients then vanish, leave no stream memory in use when the gateway resumes; downloads whose
  readers vanish give their window back to the connection, so a later download still flows.
- SIGHUP while tunnels open and close: no sanitizer report, traffic goes on.
"""

import re
import signal
import socket
import ssl
import threading
import time

import fixtures
from fixtures import (H2Sim, abort, arcproxy_via, download, downloads, gateway_conns, metric, open_tunnel,
		      parallel, pattern, recovers, resets, tls_inside)
from harness import Conn, check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

MIB64 = 64 << 20


def setup():
	return fixtures.h2_env(main=False)


def teardown(env):
	return fixtures.stop_h2_env(env)


# --- the gateway goes away, and comes back ---------------------------------------------


@test(timeout=80)
def gateway_stops_dies_and_returns(env):
	sim = H2Sim(env.targets, pki=env.sim.pki)
	env.sims.append(sim)
	sim.write_config()
	sim.start()
	p = arcproxy_via(env, "h2", sim=sim, name="h2kill")
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


# --- memory held by nghttp2 (issue 15, defects 3 and 12) -----------------------------

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
	p = arcproxy_via(env, "h2", sim=sim, name="h2blocked", start=False)
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
	p = arcproxy_via(env, "h2", name="h2window")
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
	check(body == pattern(1 << 20), "the download after the vanished readers differs")
	check(time.monotonic() - t0 < 10, "the download took %.1fs" % (time.monotonic() - t0))
	check(p.alive(), "arcproxy exited: %s\n%s" % (p.proc.returncode, p.stderr_tail()))


# --- reloads during traffic ------------------------------------------------------------------

@test(timeout=60)
def sighup_during_h2_traffic(env):
	"""Reloads while tunnels open and close: each old gateway client is freed when its last
	tunnel goes (from the loop, never inside nghttp2); no sanitizer report, traffic goes on."""
	p = arcproxy_via(env, "h2", name="h2reload")
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
