"""cloudsim: what the gateway stand-in refuses, and that it serves on after each refusal.

Expectations:
- Without a machine certificate, or with one from another CA, CONNECT gets 403 "machine certificate
  required" (Proxy-Status http_request_denied) and the connection closes; the refused certificate is
  logged.
- A destination off the list gets 403 (http_request_denied), a name not in the host table 502
  (destination_not_found), a dead target 502 (connection_refused).
- Garbage or an oversize head after the handshake gets 400 and a close; plain TCP bytes fail the
  handshake; after each the gateway serves the next client.
"""

import os

import fixtures
from fixtures import connect, curl_gw, gw_conn, served
from harness import Conn, check, proxy_status_error, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.cloudsim_env(half=False)


def teardown(env):
	return fixtures.stop_cloudsim_env(env)


# --- refusals ---------------------------------------------------------------

@test
def no_certificate_gets_403(env):
	sim = env.sim
	p = curl_gw(sim, "-o", os.devnull, "-w", "%{http_connect}", "https://echo.cloudsim.test/bytes/10", cert=None)
	check(p.returncode != 0 and p.stdout.decode() == "403",
	      "curl without a machine certificate: exit %d, CONNECT %r" % (p.returncode, p.stdout))
	c, r = connect(sim, "echo.cloudsim.test:443", cert=None)
	with c:
		check(r.status == 403, "CONNECT without a certificate: %r" % r)
		check(b"machine certificate required" in r.body, "403 body %r" % r.body)
		check(proxy_status_error(r) == "http_request_denied", "Proxy-Status %r" % r.header("proxy-status"))
		check(c.at_eof(), "the connection stays open after the 403")
	served(sim, "after a refused CONNECT")


@test
def certificate_from_another_ca_is_no_identity(env):
	sim = env.sim
	other = os.path.join(sim.base, "other")
	c, r = connect(sim, "echo.cloudsim.test:443", cert="rogue", pki=other)
	with c:
		check(r.status == 403, "CONNECT with another CA's certificate: %r" % r)
		check(b"machine certificate required" in r.body, "403 body %r" % r.body)
	check(sim.log_has(r"client certificate refused"), "the refused certificate is not logged")
	p = curl_gw(sim, "-o", os.devnull, "-w", "%{http_connect}", "https://echo.cloudsim.test/", cert="rogue",
		    pki=other)
	check(p.stdout.decode() == "403", "curl with another CA's certificate: CONNECT %r" % p.stdout)


@test
def destinations_off_the_list_get_403(env):
	sim = env.sim
	for dest in ("example.com:443", "echo.cloudsim.test:8443", "cloudsim.test:443"):
		c, r = connect(sim, dest)
		with c:
			check(r.status == 403, "CONNECT %s: %r" % (dest, r))
			check(proxy_status_error(r) == "http_request_denied",
			      "CONNECT %s: Proxy-Status %r" % (dest, r.header("proxy-status")))
			check(b"endpoint list" in r.body, "CONNECT %s: body %r" % (dest, r.body))


@test
def unknown_host_and_dead_target_get_502(env):
	sim = env.sim
	for dest, token in (("nohost.cloudsim.test:443", "destination_not_found"),
			    ("dead.cloudsim.test:443", "connection_refused")):
		c, r = connect(sim, dest)
		with c:
			check(r.status == 502, "CONNECT %s: %r" % (dest, r))
			check(proxy_status_error(r) == token, "CONNECT %s: Proxy-Status %r, want %s"
			      % (dest, r.header("proxy-status"), token))
	check(sim.log_has(r"connect dead\.cloudsim\.test:443 .*status=502.*error=connection_refused"),
	      "the refused tunnel is not logged")


@test
def bad_requests_get_400_and_the_gateway_serves_on(env):
	sim = env.sim
	cases = [("garbage", b"\x00\x01\x02 this is not http\r\n\r\n"),
		 ("oversize head", b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"),
		 ("CONNECT without a port", b"CONNECT echo.cloudsim.test HTTP/1.1\r\n\r\n")]
	for what, data in cases:
		with gw_conn(sim, "m1") as c:
			c.send(data)
			r = c.read_response()
			check(r.status == 400, "%s: %r" % (what, r))
			check(c.at_eof(), "%s: the connection stays open after 400" % what)
		served(sim, "after %s" % what)


@test
def plain_tcp_fails_the_handshake_only(env):
	sim = env.sim
	with Conn(sim.gw_port, 5) as c:
		c.send(b"GET / HTTP/1.1\r\nHost: gw.cloudsim.test\r\n\r\n")
		try:
			data = c.read_to_eof(limit=4096)
		except ConnectionResetError:
			data = b""
		check(b"HTTP/1.1" not in data, "plain HTTP got an HTTP answer: %r" % data)
	check(sim.log_has(r"TLS handshake failed"), "the failed handshake is not logged")
	p = curl_gw(sim, "-o", os.devnull, "-w", "%{http_code}", "https://echo.cloudsim.test/bytes/1000")
	check(p.returncode == 0 and p.stdout.decode() == "200", "a tunnel after a bad handshake: %r %r"
	      % (p.stdout, p.stderr))
