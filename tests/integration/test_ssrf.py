"""The SSRF guard on every route, not only the direct one.

The proxy here sends what no rule names to the enterprise proxy (origin.EnterpriseProxy,
which records each CONNECT it gets), so a target the guard misses shows up there.

Expectations:
- Literal loopback, link-local, unspecified and IPv4-in-IPv6 targets, in every spelling a
  resolver takes (127.1, 2130706433, 0x7f.1, 0177.0.0.1, [::ffff:127.0.0.1], [fe80::1%eth0],
  0.0.0.0, [::]), and localhost / *.localhost, get 403 with Proxy-Status
  error=destination_ip_prohibited on the proxy route, CONNECT and absolute-form alike, and
  the enterprise proxy never hears of them.
- The same on the gateway route (a gateway that cannot be reached: an ordinary name gets its
  502, a guarded one the 403 before the gateway is asked).
- A rule naming host and port exactly lifts the guard, on the proxy route too.
- A rule without a port does not: a name that resolves to loopback stays refused, and so
  does a literal loopback on a port no exact rule names.
"""

import os
import shutil

from harness import (Conn, Proxy, check, direct, fetch, free_port, healthy, origin,
		     proxy_status_error, standard_env, stop_env, test)

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

LITERALS = ("127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "0x7f000001",
	    "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[fe80::1%25eth0]", "0.0.0.0",
	    "[::]", "169.254.169.254", "0xa9fea9fe", "localhost", "LOCALHOST.", "a.localhost",
	    "x.y.localhost")


def setup():
	o = origin()
	return standard_env(
		name="ssrf",
		default_route="proxy",
		hosts=[{"name": "loop.test", "address": "127.0.0.1"},
		       {"name": "loopport.test", "address": "127.0.0.1"}],
		routes=[{"match": "localhost:%d" % o.echo_port, "route": "proxy"},
			direct("loop.test"),
			direct("loopport.test:%d" % o.echo_port),
			direct("127.0.0.1")],
		agent_conf='proxy = { url = "http://127.0.0.1:%d"; };\n' % o.enterprise_port)


def teardown(env):
	return stop_env(env)


def _connect(env, authority):
	with Conn(env.proxy.port) as c:
		return c.connect_tunnel(authority)


def _enterprise_saw(env, before, needle):
	return [r.split("\r\n")[0] for r in env.origin.enterprise.requests[before:] if needle in r]


@test
def literals_guarded_on_proxy_route(env):
	before = len(env.origin.enterprise.requests)
	for host in LITERALS:
		r = _connect(env, "%s:22" % host)
		check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
		      "CONNECT %s:22 on the proxy route: wanted 403 destination_ip_prohibited, got %d %r"
		      % (host, r.status, r.header("proxy-status")))
	for target in ("127.0.0.1%2e:22", "localhost%2e:22"):
		r = _connect(env, target)
		check(r.status in (400, 403), "CONNECT %s (percent-encoded): wanted 400 or 403, got %d"
		      % (target, r.status))
	for url in ("http://169.254.169.254/latest/meta-data/", "http://2130706433:8080/",
		    "http://localhost/", "http://[::ffff:127.0.0.1]/"):
		r = fetch(env.proxy.port, "GET", url)
		check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
		      "GET %s on the proxy route: wanted 403, got %d %r" % (url, r.status, r.header("proxy-status")))
	seen = env.origin.enterprise.requests[before:]
	check(not seen, "the enterprise proxy was asked for guarded targets: %r"
	      % [s.split("\r\n")[0] for s in seen])
	healthy(env.proxy, "after guarded targets")


@test
def ordinary_names_still_go_to_the_proxy(env):
	"""The guard refuses addresses, not every name: a plain name reaches the enterprise proxy."""
	before = len(env.origin.enterprise.requests)
	_connect(env, "mylocalhost.example:443")
	check(_enterprise_saw(env, before, "CONNECT mylocalhost.example:443"),
	      "an ordinary name never reached the enterprise proxy")


@test
def exact_rule_lifts_guard(env):
	o = env.origin
	before = len(o.enterprise.requests)
	with Conn(env.proxy.port) as c:
		r = c.connect_tunnel("localhost:%d" % o.echo_port)
		check(r.status == 200, "CONNECT localhost:%d with an exact proxy rule: %d %r"
		      % (o.echo_port, r.status, r.header("proxy-status")))
		c.send(b"ping\n")
		check(c.read_exact(5) == b"ping\n", "no echo through the enterprise proxy")
	check(_enterprise_saw(env, before, "CONNECT localhost:%d" % o.echo_port),
	      "the exact rule's tunnel did not go through the enterprise proxy")
	r = _connect(env, "localhost:%d" % o.ssrf_port)
	check(r.status == 403, "localhost on a port no rule names: wanted 403, got %d" % r.status)


@test
def portless_rule_keeps_guard(env):
	o = env.origin
	before = o.ssrf.accepted
	r = _connect(env, "loop.test:%d" % o.ssrf_port)
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "loop.test (-> 127.0.0.1) under a rule without a port: wanted 403, got %d %r"
	      % (r.status, r.header("proxy-status")))
	r = _connect(env, "127.0.0.1:%d" % o.ssrf_port)
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "127.0.0.1:%d under the rule '127.0.0.1' (no port): wanted 403, got %d"
	      % (o.ssrf_port, r.status))
	check(o.ssrf.accepted == before, "a loopback service was reached through a portless rule")
	with Conn(env.proxy.port) as c:
		r = c.connect_tunnel("loopport.test:%d" % o.echo_port)
		check(r.status == 200, "loopport.test:%d with an exact rule: %d" % (o.echo_port, r.status))


@test
def literals_guarded_on_gateway_route(env):
	o = env.origin
	p = Proxy(routes=[{"match": "*", "route": "gateway"}], name="ssrfgw")
	p.settings.pop("default_route")
	p.write_config()
	shutil.copy(o.ca, os.path.join(p.conf_dir, "ca.crt"))
	os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
	p.write_agent_conf('connection = { type = "gateway"; };\n'
			   'gateway = { url = "https://gw.unreachable.test:%d"; ca_file = "ca.crt"; };\n'
			   % free_port())
	p.start()
	env.extra.append(p)
	with Conn(p.port) as c:
		r = c.connect_tunnel("example.com:443")
	check(r.status == 502, "an ordinary name on the unreachable gateway route: wanted 502, got %d %r"
	      % (r.status, r.header("proxy-status")))
	for host in LITERALS:
		with Conn(p.port) as c:
			r = c.connect_tunnel("%s:443" % host)
		check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
		      "CONNECT %s:443 on the gateway route: wanted 403 destination_ip_prohibited, got %d %r"
		      % (host, r.status, r.header("proxy-status")))
	r = fetch(p.port, "GET", "http://169.254.169.254/metadata/instance")
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "GET http://169.254.169.254/ on the gateway route: %d %r" % (r.status, r.header("proxy-status")))
