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
- No sanitizer report from any arcproxy or cloudsim.
The gateway going away, stalling and reloads: test_h2_recovery.py; nghttpx and Squid as the
gateway, and gateway.protocol: test_h2_interop.py.
"""

import hashlib
import os
import re
import socket
import threading
import time

import fixtures
import harness
from fixtures import (abort, arcproxy_via, download, downloads, finish, gateway_conns, metric, open_tunnel,
		      parallel, pattern, resets, tls_inside)
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

TUNNELS = 200
TUNNEL_BYTES = 256 << 10
MIB64 = 64 << 20


def setup():
	return fixtures.h2_env()


def teardown(env):
	return fixtures.stop_h2_env(env)


# --- many tunnels, one connection ----------------------------------------------

@test(timeout=60)
def two_hundred_tunnels_one_connection(env):
	p, sim = env.proxy, env.sim
	streams0 = metric(p, "arcproxy_gateway_streams_total")
	conns0 = metric(p, "arcproxy_gateway_connections_total")
	resets0 = metric(p, "arcproxy_gateway_stream_resets_total")
	want = hashlib.sha256(pattern(TUNNEL_BYTES)).hexdigest()
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

	def logged():
		"""The h2 tunnels of TUNNEL_BYTES+ that the gateway logged (each once it has seen its end)."""
		lines = re.findall(r"connect echo\.cloudsim\.test:443 machine=m1 .*status=200 up=\d+ down=(\d+) .*proto=h2$",
				   sim.stderr_text(), re.M)
		return len([d for d in lines if int(d) >= TUNNEL_BYTES])
	poll(lambda: logged() >= TUNNELS, timeout=10, interval=0.1)
	check(logged() >= TUNNELS, "the gateway logged %d h2 tunnels of %d+ bytes, not %d" % (
	      logged(), TUNNEL_BYTES, TUNNELS))


# --- trouble on one tunnel stays there ----------------------------------------------

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
	check(download(env, 1000) == pattern(1000), "a tunnel after the trouble")


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
	p = arcproxy_via(env, "h2", name="h2rst", start=False)
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
	p = arcproxy_via(env, "h2", name="h2stop")
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


# --- leftovers ------------------------------------------------------------------------------

@test
def no_sanitizer_reports(env):
	for q in env.proxies:
		rep = q.sanitizer_report()
		check(not rep, "sanitizer report from arcproxy %s: %s" % (q.base, rep))
	for s in [env.sim] + env.sims:
		rep = s.sanitizer_report()
		check(not rep, "sanitizer report from cloudsim %s: %s" % (s.base, rep))
