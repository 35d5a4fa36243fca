"""cloudsim over HTTP/2: the endpoint list to nghttp, and tunnels with arcproxy as the h2 client.

Expectations:
- Over h2 (nghttp, and arcproxy with gateway.protocol "h2" as the CONNECT client): the same endpoint
  list, 404/405 and headers; tunnels whose bytes hash right both ways; the same refusals with the same
  Proxy-Status (403 without a certificate or off the list, 502 unknown host or dead target); the
  anonymous endpoint without a certificate; half-closes both ways (END_STREAM <-> FIN); one log line
  per tunnel with proto=h2.  An h2 connection without the preface (HTTP/1.1 bytes, or silence for
  head_timeout_ms) is closed, and the gateway serves on.
- No arcproxy or cloudsim exits other than 0 on SIGTERM or reports a sanitizer error.
"""

import hashlib
import json
import os
import re
import socket
import ssl
import tempfile
import time

import fixtures
import harness
from fixtures import (BYPASS, ENDPOINTS, HEAD_TIMEOUT_MS, LIST_PATH, arcproxy_via, curl_via, gw_conn,
		      nghttp, pattern, proxy_details, served)
from harness import Conn, check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.cloudsim_env()


def teardown(env):
	return fixtures.stop_cloudsim_env(env)


# --- HTTP/2 -------------------------------------------------------------------

@test
def h2_endpoint_list_with_nghttp(env):
	sim = env.sim
	for cert in ("m1", None):
		status, heads, body = nghttp(sim, LIST_PATH, cert=cert)
		check(status == 200, "nghttp GET %s (certificate %s): status %d" % (LIST_PATH, cert, status))
		check(heads.get("content-type", "").startswith("application/json") and
		      heads.get("cache-control") == "max-age=300", "h2 list headers %r" % heads)
		check(json.loads(body) == {"endpoints": ENDPOINTS, "bypass": BYPASS, "refresh_seconds": 300},
		      "h2 endpoint list %r" % body)
		check(int(heads.get("content-length", -1)) == len(body), "content-length %r for %d bytes"
		      % (heads.get("content-length"), len(body)))
	status, heads, body = nghttp(sim, LIST_PATH + "?x=1", "-H", ":method: HEAD")
	check(status == 200 and body == "" and int(heads.get("content-length", 0)) > 0,
	      "HEAD over h2: %d %r %r" % (status, heads, body))
	status, heads, body = nghttp(sim, LIST_PATH, "-H", ":method: POST", "-d", "/dev/null")
	check(status == 405 and heads.get("allow") == "GET, HEAD", "POST over h2: %d %r" % (status, heads))
	status, _, body = nghttp(sim, "/elsewhere")
	check(status == 404, "another path over h2: %d %r" % (status, body))
	check(sim.log_has(r"ALPN h2, machine m1"), "no h2 handshake in the log")


@test(timeout=40)
def h2_tunnels_through_arcproxy(env):
	sim = env.sim
	p = arcproxy_via(env, "h2", name="h2client")
	n = 1 << 20
	with tempfile.TemporaryDirectory(dir=sim.base) as d:
		body, head = os.path.join(d, "body"), os.path.join(d, "head")
		r = curl_via(p, sim, "-D", head, "-o", body, "https://echo.cloudsim.test/bytes/%d" % n)
		check(r.returncode == 0, "curl via arcproxy (h2): exit %d: %s\n%s" % (
			r.returncode, r.stderr.decode(errors="replace").strip(), p.stderr_tail(8)))
		with open(body, "rb") as f:
			data = f.read()
		with open(head) as f:
			heads = f.read()
		check(data == pattern(n), "%d bytes over an h2 stream differ from the pattern" % len(data))
		m = re.search(r"(?im)^x-sha256:\s*([0-9a-f]{64})", heads)
		check(m and m.group(1) == hashlib.sha256(data).hexdigest(), "X-Sha256 over h2 differs")
		up = os.urandom(3 << 20)
		with open(body, "wb") as f:
			f.write(up)
		r = curl_via(p, sim, "--data-binary", "@" + body, "https://echo.cloudsim.test/upload")
	check(r.returncode == 0 and json.loads(r.stdout) == {"length": len(up),
							      "sha256": hashlib.sha256(up).hexdigest()},
	      "upload over h2: exit %d %r" % (r.returncode, r.stdout[:200]))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 client=\S+ target=127\.0\.0\.1:%d "
			  r"status=200 up=\d+ down=\d{7,} ms=\d+ proto=h2$" % sim.echo_port),
	      "no h2 tunnel log line\n" + sim.stderr_tail(6))
	check(sim.log_has(r"status=200 up=\d{7,} down=\d+ ms=\d+ proto=h2$"), "no h2 upload log line")
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 1 and
	      harness.metric_sum(m, "arcproxy_gateway_connections", protocol="http/1.1") == 0,
	      "arcproxy's gateway connections: %r" % {k: v for k, v in m.items() if "gateway_conn" in k[0]})
	check(harness.metric_sum(m, "arcproxy_gateway_streams_total") >= 2, "streams_total < 2")
	check(harness.poll(lambda: harness.metric_sum(p.metrics(), "arcproxy_gateway_streams_open") == 0),
	      "streams stay open after the transfers")


@test(timeout=40)
def h2_refusals_match_http11(env):
	sim = env.sim
	everything = [{"match": "*", "route": "gateway"}]	# off-list names reach the gateway too
	p = arcproxy_via(env, "h2", routes=everything, name="h2refuse")
	cases = [("example.com:443", 403, "http_request_denied", "destination not on the endpoint list"),
		 ("echo.cloudsim.test:8443", 403, "http_request_denied", "destination not on the endpoint list"),
		 ("nohost.cloudsim.test:443", 502, "destination_not_found", "unknown host"),
		 ("dead.cloudsim.test:443", 502, "connection_refused", "target refused the connection")]
	for dest, status, token, why in cases:
		with Conn(p.port, 10) as c:
			r = c.connect_tunnel(dest)
		want = "%d cloudsim-gateway; error=%s; details='%s'" % (status, token, why)
		check(r.status == status and want in proxy_details(r),
		      "CONNECT %s over h2: %r, Proxy-Status %r lacks %r" % (dest, r, r.header("proxy-status"), want))
		check(sim.log_has(r"connect %s machine=m1 .*status=%d .*proto=h2 error=%s"
				  % (re.escape(dest), status, token)), "no h2 log line for %s" % dest)
	anon = arcproxy_via(env, "h2", cert=None, routes=everything, name="h2anon")
	with Conn(anon.port, 10) as c:
		r = c.connect_tunnel("echo.cloudsim.test:443")
	check(r.status == 403 and "machine certificate required" in proxy_details(r),
	      "CONNECT without a machine certificate over h2: %r %r" % (r, r.header("proxy-status")))
	r = curl_via(anon, sim, "-o", "-", "https://management.cloudsim.test/bytes/1000")
	check(r.returncode == 0 and r.stdout == pattern(1000), "the anonymous endpoint over h2: exit %d %s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip()))
	check(sim.log_has(r"connect management\.cloudsim\.test:443 machine=- .*status=200 .*proto=h2"),
	      "the anonymous h2 tunnel is not logged")
	served(sim, "after refusals over h2")


@test
def h2_half_close_both_ways(env):
	sim = env.sim
	p = env.proxies[0] if env.proxies else arcproxy_via(env, "h2", name="h2half")
	with Conn(p.port, 10) as c:
		r = c.connect_tunnel("half.cloudsim.test:443")
		check(r.status == 200, "CONNECT half.cloudsim.test over h2: %r" % r)
		c.send(b"hello")
		c.shutdown_wr()		# END_STREAM on the stream, then a FIN to the target
		got = c.read_to_eof(limit=100)
	check(got == b"got 5", "the target's answer after our half-close: %r" % got)
	check(sim.log_has(r"connect half\.cloudsim\.test:443 .*status=200 up=5 down=5 ms=\d+ proto=h2$"),
	      "the half-closed h2 tunnel is not logged as a clean 5/5\n" + sim.stderr_tail(5))


@test
def h2_bad_or_missing_preface_closes(env):
	sim = env.sim
	with gw_conn(sim, "m1", alpn=("h2",)) as c:
		c.send(b"GET / HTTP/1.1\r\nHost: gw.cloudsim.test\r\n\r\n")	# not the h2 preface
		c.settimeout(3)
		try:
			data = c.read_to_eof(limit=4096)
		except (ConnectionResetError, ssl.SSLError):
			data = b""
		check(b"HTTP/1.1" not in data, "HTTP/1.1 on an h2 connection got an HTTP/1.1 answer: %r" % data)
	t0 = time.monotonic()
	with gw_conn(sim, "m1", alpn=("h2",)) as c:
		c.settimeout(HEAD_TIMEOUT_MS / 1000 + 2)
		try:
			c.read_to_eof(limit=4096)	# our SETTINGS, then the close
		except (ConnectionResetError, ssl.SSLError):
			pass
		except socket.timeout:
			raise AssertionError("a silent h2 connection stays open")
	dt = time.monotonic() - t0
	check(dt >= HEAD_TIMEOUT_MS / 1000 - 0.3, "a silent h2 connection was closed after %.1fs, before "
	      "head_timeout_ms" % dt)
	check(sim.log_has(r"no HTTP/2 preface within %d ms" % HEAD_TIMEOUT_MS), "the silent client is not logged")
	served(sim, "after bad h2 prefaces")
