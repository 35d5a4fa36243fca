"""HTTP/2 to the gateway, interop: nghttpx in front of Squid as the gateway; gateway.protocol forced.

Expectations:
- Interop: nghttpx in secure proxy mode in front of Squid, as the gateway: arcproxy tunnels through
  it over h2 (one connection, arcproxy_gateway_connections{protocol="h2"} 1), bytes checked, and
  Squid logs the CONNECTs; a CONNECT that Squid refuses gets an answer, not a hang.
- gateway.protocol "http/1.1" against the h2-capable cloudsim still tunnels, on HTTP/1.1
  connections (the gateway logs proto=http/1.1); "auto" picks h2.
"""

import hashlib
import os
import re
import subprocess
import time

import fixtures
import harness
from fixtures import (NGHTTPX, SQUID, Squid, arcproxy_via, download, downloads, gateway_conns, parallel,
		      pattern)
from harness import Conn, check, free_port, poll, test, wait_port

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.h2_env(main=False)


def teardown(env):
	return fixtures.stop_h2_env(env)


# --- nghttpx in front of Squid as the gateway -----------------------------------------------

@test(timeout=40)
def nghttpx_and_squid_as_the_gateway(env):
	if not os.path.exists(SQUID) or not os.path.exists(NGHTTPX):
		raise harness.Skip("squid or nghttpx is not installed")
	sim = env.sim
	sq = Squid("h2", [sim.echo_port], names=("echo.cloudsim.test",))
	env.squids.append(sq)
	sq.start()
	port = free_port()
	log = open(os.path.join(sq.dir, "nghttpx.log"), "ab")
	nghttpx = subprocess.Popen([NGHTTPX, "--conf=/dev/null", "-s", "--frontend=127.0.0.1,%d" % port,
				    "--backend=127.0.0.1,%d" % sq.port, "--no-ocsp", "--workers=1",
				    sim.file("gateway.key"), sim.file("gateway.crt")],
				   stdin=subprocess.DEVNULL, stdout=log, stderr=log)
	env.procs.append(nghttpx)
	log.close()
	check(wait_port(port, 10, nghttpx), "nghttpx did not listen on %d" % port)
	p = arcproxy_via(env, "h2", gateway_port=port, routes=[{"match": "*", "route": "gateway"}],
			     name="h2nghttpx")
	n = 4 << 20
	want = hashlib.sha256(pattern(n)).hexdigest()
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
		check(body == pattern(1 << 20), "parallel download #%d through nghttpx differs" % i)
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
	check(poll(lambda: len(re.findall(r"CONNECT echo\.cloudsim\.test:%d" % sim.echo_port, sq.access_log())) >= 11),
	      "squid's access log lacks the CONNECTs")
	# Squid refuses another port: an answer, not a hang.
	t0 = time.monotonic()
	with Conn(p.port, 10) as c:
		r = c.connect_tunnel("echo.cloudsim.test:%d" % sim.gw_port)
	check(r.status in (403, 502) and time.monotonic() - t0 < 5,
	      "CONNECT that squid refuses: %r after %.1fs" % (r, time.monotonic() - t0))


# --- forcing the protocol ---------------------------------------------------------------

@test(timeout=40)
def protocol_http11_and_auto(env):
	sim = env.sim
	p = arcproxy_via(env, "http/1.1", name="h1forced")
	check(download(env, 1 << 20, p) == pattern(1 << 20), "a tunnel with protocol http/1.1")
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
	a = arcproxy_via(env, "auto", name="h2auto")
	downloads(env, 5, 256 << 10, a)
	m = a.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 1 and
	      harness.metric_sum(m, "arcproxy_gateway_streams_total") >= 5,
	      "protocol auto did not pick h2: %r" % {k[0]: v for k, v in m.items() if "gateway_" in k[0]})
