"""arcproxy's GET /status on the admin listener: what azcmagent learns of the running proxy.

Expectations:
- After start: the version, arcproxy's pid, arcproxy.conf's path, generation 1 and a load time,
  the proxy and admin listeners as configured, the connection type (direct) and config mode,
  the routes in arcproxy.conf's order with their route, the default route (and that arcproxy.conf
  names it), no gateway, no upstream proxy, the access log's path.  JSON, Content-Type
  application/json; POST is 405.
- After SIGHUP with new routes, no default_route and a proxy.url in agent.conf: generation 2, a
  load time no earlier than the first, the new routes in order, the upstream proxy's URL, and the
  default route "proxy" (agent.conf's proxy.url takes what no rule names), not named by arcproxy.conf.
- In gateway mode with a gateway that refuses connections: the gateway's URL, state "down" and
  backing off, no endpoint list (endpoints and last_list_fetch null), no protocol yet (no
  connection), the protocol setting from agent.conf, and the last error saying why.
"""

import json
import os
import re
import subprocess
import time

import harness
from harness import Proxy, check, free_port, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

ROUTES = [{"match": "b.example.test", "route": "deny"},
	  {"match": "*.example.test", "route": "direct"},
	  {"match": "a.example.test:443", "route": "proxy"}]


def setup():
	p = Proxy(routes=ROUTES, default_route="deny", name="status")
	p.start()
	return {"proxy": p}


def teardown(env):
	problems = []
	p = env["proxy"]
	crashed = p.proc.poll()
	if crashed is not None:
		problems.append("arcproxy had already exited with status %s" % crashed)
	rc = p.stop()
	if crashed is None and rc not in (0, None):
		problems.append("arcproxy exited %s on SIGTERM" % rc)
	rep = p.sanitizer_report()
	if rep:
		problems.append("sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
	return problems


def status(p):
	code, headers, body = p.admin_get("/status")
	check(code == 200, "GET /status: %d %s" % (code, body[:200]))
	check(headers.get("content-type") == "application/json",
	      "GET /status: Content-Type %r" % headers.get("content-type"))
	try:
		return json.loads(body)
	except ValueError as e:
		raise AssertionError("GET /status is not JSON (%s):\n%s" % (e, body[:2000]))


def version():
	with open(os.path.join(os.path.dirname(__file__), "..", "..", "lib", "version.h")) as f:
		return re.search(r'ARC_AGENT_VERSION\s+"([^"]+)"', f.read()).group(1)


def stamp(s):
	check(isinstance(s, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", s),
	      "not a UTC time stamp: %r" % (s,))
	return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


@test
def status_after_start(env):
	p = env["proxy"]
	t0 = time.time()
	s = status(p)
	check(s["version"] == version(), "version %r, want %r" % (s["version"], version()))
	check(s["pid"] == p.pid, "pid %r, want %d" % (s["pid"], p.pid))
	check(s["config"]["path"] == p.conf_path, "config path %r" % s["config"])
	check(s["config"]["generation"] == 1, "generation %r, want 1" % s["config"])
	check(abs(stamp(s["config"]["loaded_at"]) - t0) < 60, "loaded_at %r" % s["config"])
	check(s["listeners"] == {"proxy": ["127.0.0.1:%d" % p.port], "admin": "127.0.0.1:%d" % p.admin_port},
	      "listeners %r" % s["listeners"])
	check(s["connection_type"] == "direct" and s["config_mode"] == "full", "mode: %r" % s)
	check(s["routes"] == ROUTES, "routes %r, want %r" % (s["routes"], ROUTES))
	check(s["default_route"] == "deny" and s["default_route_set"] is True, "default route: %r" % s)
	check(s["gateway"] is None and s["upstream_proxy"] is None, "gateway/proxy: %r" % s)
	check(s["access_log"] == p.access_log_path(), "access_log %r, want %r" % (s["access_log"],
										   p.access_log_path()))
	r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
				    "http://127.0.0.1:%d/status" % p.admin_port], capture_output=True, text=True)
	check(r.stdout == "405", "POST /status: %r" % r.stdout)


@test
def status_after_reload(env):
	p = env["proxy"]
	before = status(p)
	routes = [{"match": "*.other.test", "route": "direct"}, {"match": "x.other.test", "route": "deny"}]
	settings = dict(p.settings, routes=routes)
	settings.pop("default_route")
	p.write_config(text=harness.conf_text(settings))
	p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % free_port())
	p.reload()
	s = poll(lambda: (lambda d: d if d["config"]["generation"] == 2 else None)(status(p)), timeout=5)
	check(s, "generation did not become 2 after SIGHUP: %r\n%s" % (status(p), p.stderr_tail(10)))
	check(stamp(s["config"]["loaded_at"]) >= stamp(before["config"]["loaded_at"]), "loaded_at went back")
	check(s["routes"] == routes, "routes after reload %r, want %r" % (s["routes"], routes))
	check(re.match(r"^http://127\.0\.0\.1:\d+$", s["upstream_proxy"] or ""), "upstream_proxy %r" % s)
	check(s["default_route"] == "proxy" and s["default_route_set"] is False,
	      "default route after reload: %r / %r" % (s["default_route"], s["default_route_set"]))
	check(s["pid"] == p.pid, "pid changed")


@test(timeout=40)
def status_gateway_down(env):
	p = Proxy(routes=ROUTES, name="statusgw")
	dead = free_port()
	p.write_agent_conf('connection = { type = "gateway"; };\n'
			   'gateway = { url = "https://127.0.0.1:%d"; ca_file = "/etc/ssl/certs/ca-certificates.crt";'
			   ' protocol = "h2"; };\n' % dead)
	p.start()
	try:
		s = poll(lambda: (lambda d: d if (d["gateway"] or {}).get("state") == "down" else None)(status(p)),
			 timeout=10)
		check(s, "the gateway never showed down: %r" % status(p))
		g = s["gateway"]
		check(s["connection_type"] == "gateway", "connection_type %r" % s["connection_type"])
		check(g["url"] == "https://127.0.0.1:%d" % dead, "gateway url %r" % g)
		check(g["backing_off"] is True and g["workers_up"] == 0, "backing off: %r" % g)
		check(g["endpoints"] is None and g["last_list_fetch"] is None, "endpoint list: %r" % g)
		check(g["protocol"] is None and g["protocol_setting"] == "h2", "protocol: %r" % g)
		check(g["last_error"], "no last error: %r" % g)
	finally:
		p.stop()
		rep = p.sanitizer_report()
		p.cleanup()
		check(not rep, "sanitizer: %s" % rep)
