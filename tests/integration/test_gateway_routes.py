"""The gateway route, routing: what goes to the gateway, what is denied, what goes direct.

Expectations:
- A destination off the gateway's endpoint list is denied (403) when proxy.url is not set, and goes
  direct when arcproxy.conf sets default_route = "direct"; the gateway's bypass list goes direct.
  The access log's route column and the per-route metrics say so.
  (Every peer here is on loopback, so "direct" ends at the SSRF guard: 403 destination_ip_prohibited,
  which is not the routing's 403 http_request_denied; the route column shows "direct".)
- The gateway's list wins over default_route.
With proxy.url set (a real Squid): test_gateway_squid.py.
"""

import re

import fixtures
import harness
from fixtures import (echo_get, gw_proxy, healthz, metric, one_entry, pattern, sim_up,
		      timed_connect)
from harness import check, fetch, poll, proxy_status_error, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.gateway_env(main=True)


def teardown(env):
	return fixtures.stop_gateway_env(env)


# --- routing ----------------------------------------------------------------------

@test
def off_list_denied_without_proxy(env):
	sim_up(env)
	p, o = env.proxy, env.origin
	before = metric(p, "arcproxy_errors_total", kind="route_denied")
	for target in ("origin.test:%d" % o.tls_port, "echo.cloudsim.test:8443"):
		r, _ = timed_connect(p, target)
		check(r.status == 403 and proxy_status_error(r) == "http_request_denied",
		      "CONNECT %s (off the list, no proxy.url): %r %s" % (target, r, r.header("proxy-status")))
		e = one_entry(p, r"CONNECT %s " % re.escape(target), target)
		check(e["route"] == "deny" and e["status"] == 403, "access log: %s" % e["line"])
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/10" % o.http_port)
	check(r.status == 403, "absolute-form GET off the list: %r" % r)
	check(metric(p, "arcproxy_errors_total", kind="route_denied") >= before + 3,
	      "arcproxy_errors_total{kind=\"route_denied\"} did not count the refusals")


@test
def bypass_goes_direct(env):
	sim_up(env)
	p = env.proxy
	before = metric(p, "arcproxy_tunnels_total", route="gateway")
	# A name on the bypass list never goes to the gateway, even where "*.cloudsim.test:443" on
	# the endpoint list matches it.  Direct to it means loopback here, which the SSRF guard
	# refuses (403 destination_ip_prohibited, not the route's http_request_denied).
	r, _ = timed_connect(p, "bypass.cloudsim.test:443")
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "CONNECT bypass.cloudsim.test:443: %r %s" % (r, r.header("proxy-status")))
	e = one_entry(p, r"CONNECT bypass\.cloudsim\.test:443 ", "the bypassed CONNECT")
	check(e["route"] == "direct", "bypass list: route %r, want direct: %s" % (e["route"], e["line"]))
	check(not re.search(r"connect bypass\.cloudsim\.test", env.sim.stderr_text()),
	      "a bypassed destination reached the gateway")
	check(metric(p, "arcproxy_tunnels_total", route="gateway") == before,
	      "a bypassed tunnel counted on the gateway route")


@test(timeout=40)
def default_route_direct(env):
	sim_up(env)
	o = env.origin
	p = gw_proxy(env, "gwdirect", default_route="direct")
	# Until the list is fetched every destination goes to the gateway: wait for it.
	check(poll(lambda: healthz(p)[1]["gateway"]["endpoints"] > 0, timeout=5),
	      "no endpoint list after 5 s: %r" % (healthz(p),))
	# Off the list, default_route = "direct": the direct route, where the SSRF guard (not the
	# routing) refuses origin.test, which this arcproxy's hosts table puts on loopback.
	r, _ = timed_connect(p, "origin.test:%d" % o.tls_port)
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "off-list CONNECT with default_route = direct: %r %s" % (r, r.header("proxy-status")))
	e = one_entry(p, r"CONNECT origin\.test:%d " % o.tls_port, "the off-list CONNECT")
	check(e["route"] == "direct", "default_route = direct: route %r: %s" % (e["route"], e["line"]))
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/10" % o.http_port)
	e = one_entry(p, r"GET http://origin\.test:%d/bytes/10 " % o.http_port, "the off-list GET")
	check(e["route"] == "direct" and r.status == 403, "off-list GET: %r, %s" % (r, e["line"]))
	# The gateway's list still wins over the default.
	r = echo_get(p, env.sim, "/bytes/1000")
	check(r.status == 200 and r.body == pattern(1000), "listed destination with default_route set: %r" % r)
	e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 ", "the listed CONNECT")
	check(e["route"] == "gateway", "listed destination: route %r" % e["route"])
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway") >= 1,
	      "arcproxy_tunnels_total{route=\"gateway\"} is 0 after a gateway tunnel")
