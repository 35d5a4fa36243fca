"""The gateway route with Squid: as the enterprise proxy (proxy.url), and as the gateway itself.

Expectations:
- arcproxy -> Squid (proxy.url) -> cloudsim gateway -> echo, bytes checked, Squid's access log shows
  the CONNECT to the gateway; off the list and the bypass list go to Squid too (route "proxy"), and
  Squid's ACL refusing a port is arcproxy's 502 with Squid's answer, not a hang.
- Squid's https_port as the gateway itself, in front of the test origin, carries tunnels and
  absolute-form requests from arcproxy in gateway mode; its refusals are the gateway's 403 and 502,
  and arcproxy says that it serves no endpoint list and sends everything to it.
"""

import hashlib
import json
import re

import fixtures
import harness
from fixtures import (REPLY_BOUND_S, Squid, curl_echo, enterprise_squid, gw_proxy, one_entry, pattern_sha,
		      proxy_details, sim_up, stop_proxy, timed_connect)
from harness import check, curl, fetch, payload, proxy_status_error, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.gateway_env()


def teardown(env):
	return fixtures.stop_gateway_env(env)


# --- Squid as the enterprise proxy (proxy.url) ---------------------------------------

@test(timeout=40)
def squid_enterprise_proxy(env):
	"""arcproxy -> Squid -> cloudsim gateway for listed names; off-list and bypass -> Squid -> origin."""
	sim_up(env)
	o, sim = env.origin, env.sim
	sq = enterprise_squid(env)
	p = gw_proxy(env, "gwsquid", proxy_url="http://127.0.0.1:%d" % sq.port)
	n = 16 << 20
	r = curl_echo(p, sim, "-o", "-", "https://echo.cloudsim.test/bytes/%d" % n, timeout=30)
	check(r.returncode == 0, "curl via arcproxy -> squid -> gateway: exit %d: %s\n%s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip(), sq.log_tail()))
	check(len(r.stdout) == n and hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n),
	      "%d bytes through squid and the gateway, hash differs" % len(r.stdout))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 "), "the gateway saw no machine=m1")
	e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 ", "the tunnel via squid")
	check(e["route"] == "gateway" and e["status"] == 200 and e["down"] >= n, "access log: %s" % e["line"])
	# Off the gateway's list: to proxy.url, which Squid carries to the origin.
	r = curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", o.ca,
		 "https://origin.test:%d/bytes/300000" % o.tls_port, timeout=20)
	check(r.returncode == 0 and r.stdout == payload(300000), "off-list tunnel via squid: exit %d %s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip()))
	e = one_entry(p, r"CONNECT origin\.test:%d " % o.tls_port, "the off-list tunnel")
	check(e["route"] == "proxy" and e["status"] == 200, "off-list with proxy.url: %s" % e["line"])
	check(sq.saw(r"\bCONNECT origin\.test:%d\b" % o.tls_port), "squid did not log CONNECT origin.test")
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/5000" % o.http_port)
	check(r.status == 200 and r.body == payload(5000), "off-list GET via squid: %r" % r)
	e = one_entry(p, r"GET http://origin\.test:%d/bytes/5000 " % o.http_port, "the off-list GET")
	check(e["route"] == "proxy", "off-list GET with proxy.url: %s" % e["line"])
	# The bypass list with proxy.url set: to the proxy, not direct.
	r, _ = timed_connect(p, "bypass.cloudsim.test:%d" % o.tls_port)
	check(r.status == 200, "CONNECT bypass.cloudsim.test via squid: %r %s" % (r, r.header("proxy-status")))
	e = one_entry(p, r"CONNECT bypass\.cloudsim\.test:%d " % o.tls_port, "the bypassed tunnel")
	check(e["route"] == "proxy", "bypass with proxy.url: %s" % e["line"])
	# Squid's ACL refusing a port is a 502 from arcproxy with Squid's answer, not a hang.
	r, dt = timed_connect(p, "origin.test:%d" % o.echo_port)
	check(r.status == 502 and proxy_status_error(r) == "connection_refused" and "403" in proxy_details(r),
	      "squid refusing CONNECT: %r %s" % (r, r.header("proxy-status")))
	check(dt < REPLY_BOUND_S, "squid's refusal took %.1fs to reach the client" % dt)
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway") >= 1 and
	      harness.metric_sum(m, "arcproxy_tunnels_total", route="proxy") >= 2,
	      "tunnels by route: gateway %d, proxy %d" % (harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway"),
							  harness.metric_sum(m, "arcproxy_tunnels_total", route="proxy")))
	status, _, body = p.admin_get("/healthz")
	doc = json.loads(body)
	check(status == 200 and doc["gateway"]["state"] == "up" and doc["proxy"], "/healthz: %d %s" % (status, body))
	# Squid logs a CONNECT when it ends, and arcproxy keeps its gateway connection(s) open
	# (warm, or one h2 connection): stop arcproxy, then read Squid's log.
	stop_proxy(p)
	check(sq.saw(r"\bCONNECT gw\.cloudsim\.test:%d\b" % sim.gw_port),
	      "squid's access log shows no CONNECT to the gateway:\n%s" % sq.access_log()[-600:])


# --- Squid's https_port as the gateway ------------------------------------

@test(timeout=40)
def squid_https_port_as_gateway(env):
	sim_up(env)
	o, sim = env.origin, env.sim
	sq = Squid("gateway", [o.tls_port, o.http_port, sim.dead_port], tls=(sim.file("gateway.crt"), sim.file("gateway.key")))
	env.squids.append(sq)
	sq.start()
	p = gw_proxy(env, "gwsquidtls", gateway_port=sq.port)
	n = 4 << 20
	r = curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", o.ca,
		 "https://origin.test:%d/bytes/%d" % (o.tls_port, n), timeout=20)
	check(r.returncode == 0, "curl via arcproxy -> squid https_port -> origin: exit %d: %s\n%s\n%s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip(), p.stderr_tail(8), sq.log_tail()))
	check(r.stdout == payload(n), "%d bytes through squid as the gateway differ" % len(r.stdout))
	e = one_entry(p, r"CONNECT origin\.test:%d " % o.tls_port, "the tunnel via squid's https_port")
	check(e["route"] == "gateway" and e["status"] == 200, "access log: %s" % e["line"])
	check(sq.saw(r"\bCONNECT origin\.test:%d\b" % o.tls_port),
	      "squid's access log shows no CONNECT origin.test:%d:\n%s" % (o.tls_port, sq.access_log()[-600:]))
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/70000" % o.http_port)
	check(r.status == 200 and r.body == payload(70000), "absolute-form via squid as the gateway: %r %s"
	      % (r, r.header("proxy-status")))
	check(sq.saw(r"\bCONNECT origin\.test:%d\b" % o.http_port), "squid did not log CONNECT origin.test:http")
	# Squid's ACL refusal is the gateway's 403; a dead target behind it (Squid: 503) a 502.
	r, dt = timed_connect(p, "origin.test:%d" % o.echo_port)
	check(r.status == 403 and proxy_status_error(r) == "http_request_denied" and "403" in proxy_details(r),
	      "CONNECT to a port squid refuses: %r %s" % (r, r.header("proxy-status")))
	r, dt = timed_connect(p, "origin.test:%d" % sim.dead_port)
	check(r.status == 502 and proxy_status_error(r) == "destination_unavailable",
	      "CONNECT to a dead port behind squid: %r %s" % (r, r.header("proxy-status")))
	# Squid serves no endpoint list: arcproxy says so, stays up, and sends everything to it.
	check(re.search(r"no endpoint list", p.stderr_text()), "arcproxy did not log the missing endpoint list")
	status, _, body = p.admin_get("/healthz")
	doc = json.loads(body)
	check(status == 200 and doc["gateway"]["state"] == "up" and doc["gateway"]["endpoints"] == -1,
	      "/healthz with squid as the gateway: %d %s" % (status, body))
	check(sq.saw(r"GET /\.well-known/arc-gateway/endpoints"), "arcproxy never asked squid for the list")
