"""Name resolution through the configured DNS server (the origin's tiny UDP responder).

Expectations:
- A name that DNS resolves is reached (absolute-form and CONNECT), and DNS was asked.
- The hosts table wins over DNS: a name in both uses the hosts address and DNS is not asked.
- A name DNS says does not exist -> 502 with Proxy-Status error=dns_error.
- A DNS server that never answers -> 504 within limits.connect_timeout_ms plus a margin, and
  meanwhile the proxy serves other clients without delay (lookups do not block the loop).
- No fds leak.
"""

import threading
import time

from harness import (Conn, check, direct, fetch, origin, payload, proxy_status_error,
		     standard_env, stop_env, test)

CONNECT_TIMEOUT_MS = 1000


def setup():
	o = origin()
	return standard_env(
		name="dns",
		extra={"dns_servers": ["127.0.0.1:%d" % o.dns_port]},
		hosts=[{"name": "www.dns.test", "address": "127.0.0.1"}],
		routes=[direct("dns.test:%d" % o.http_port), direct("dns.test:%d" % o.echo_port),
			direct("www.dns.test:%d" % o.http_port),
			direct("nx.test"), direct("silent.test")],
		limits={"connect_timeout_ms": CONNECT_TIMEOUT_MS},
		# the resolver may open its socket on first use: count fds after one lookup
		warmup="dns.test:%d" % o.echo_port)


def teardown(env):
	return stop_env(env)


def _url(env, host, path):
	return "http://%s:%d%s" % (host, env.origin.http_port, path)


@test
def dns_name_resolves(env):
	r = fetch(env.proxy.port, "GET", _url(env, "dns.test", "/bytes/100"))
	check(r.status == 200 and r.body == payload(100), "GET http://dns.test: %r" % r)
	with Conn(env.proxy.port) as c:
		r = c.connect_tunnel("dns.test:%d" % env.origin.http_port)
		check(r.status == 200, "CONNECT dns.test: %d" % r.status)
	check(any(q[0] == "dns.test" for q in env.origin.dns_queries),
	      "the configured DNS server was never asked for dns.test")


@test
def hosts_table_before_dns(env):
	before = len(env.origin.dns_queries)
	r = fetch(env.proxy.port, "GET", _url(env, "www.dns.test", "/bytes/100"))
	check(r.status == 200, "www.dns.test (hosts 127.0.0.1, DNS 127.0.0.2): %r: DNS used before hosts?" % r)
	asked = [q for q in env.origin.dns_queries[before:] if q[0] == "www.dns.test"]
	check(not asked, "DNS was asked for a name the hosts table has: %r" % asked)


@test
def nxdomain_502(env):
	r = fetch(env.proxy.port, "GET", _url(env, "nx.test", "/"))
	check(r.status == 502, "GET to a name that does not exist: wanted 502, got %d" % r.status)
	check(proxy_status_error(r) == "dns_error", "Proxy-Status %r, wanted error=dns_error" % r.header("proxy-status"))
	with Conn(env.proxy.port) as c:
		r = c.connect_tunnel("nx.test:443")
	check(r.status == 502, "CONNECT to a name that does not exist: wanted 502, got %d" % r.status)


@test
def silent_dns_504_does_not_block(env):
	out = {}

	def slow():
		t0 = time.monotonic()
		try:
			out["r"] = fetch(env.proxy.port, "GET", _url(env, "silent.test", "/"), timeout=10)
		except (OSError, EOFError) as e:
			out["r"] = e
		out["dt"] = time.monotonic() - t0
	t = threading.Thread(target=slow, daemon=True)
	t.start()
	time.sleep(0.2)
	t0 = time.monotonic()
	r = fetch(env.proxy.port, "GET", _url(env, "127.0.0.1", "/bytes/10"))
	quick = time.monotonic() - t0
	t.join(10)
	check(r.status == 200, "normal request during a pending lookup: %r" % r)
	check(quick < 0.5, "a normal request took %.2fs while a DNS lookup was pending: blocking DNS?" % quick)
	r, dt = out.get("r"), out.get("dt", 99)
	check(getattr(r, "status", None) == 504, "unanswered DNS: wanted 504, got %r" % (r,))
	check(CONNECT_TIMEOUT_MS / 1000 * 0.8 <= dt <= CONNECT_TIMEOUT_MS / 1000 + 2,
	      "504 after %.2fs, connect_timeout_ms is %d" % (dt, CONNECT_TIMEOUT_MS))


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
