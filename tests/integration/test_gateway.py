"""The gateway route, bytes: arcproxy -> gateway-client -> cloudsim's gateway -> echo and the origin.

Expectations:
- Gateway mode (agent.conf connection.type "gateway", default_route unset): CONNECT tunnels to a
  destination on the gateway's endpoint list go through the gateway, with the machine certificate
  presented (the gateway's log names machine=<CN>).  64 MiB down and 64 MiB up through such a tunnel
  hash to the right SHA-256 end to end.  Absolute-form http:// requests to a listed host:80 travel
  inside a CONNECT host:80 to the gateway, bytes intact both ways, on a kept-alive client connection.
  The same holds with gateway.protocol "http/1.1", which makes no h2 connection.
- No fd leak in the two arcproxies; no sanitizer report from any arcproxy or cloudsim.
Routing: test_gateway_routes.py; Squid: test_gateway_squid.py; failures: test_gateway_failures.py;
SIGHUP: test_gateway_reload.py.
"""

import hashlib
import json
import os
import re
import time

import fixtures
import harness
from fixtures import curl_echo, log_entries, metric, one_entry, pattern_sha, sim_up
from harness import Conn, check, fetch, payload, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

MIB64 = 64 << 20


def setup():
	return fixtures.gateway_env(main=True, h1=True, baselines=True)


def teardown(env):
	return fixtures.stop_gateway_env(env)


# --- bytes through the gateway ---------------------------------------------------

def both(env):
	"""The main arcproxy (protocol "auto") and the one held to HTTP/1.1, with a label for messages."""
	return ((env.proxy, "protocol auto"), (env.h1, "protocol http/1.1"))


def check_h1_only(p, what):
	"""An arcproxy with gateway.protocol = "http/1.1" made no h2 connection and no h2 stream."""
	m = p.metrics()
	h2 = harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2")
	streams = harness.metric_sum(m, "arcproxy_gateway_streams_total")
	total = harness.metric_sum(m, "arcproxy_gateway_connections_total")
	check(h2 == 0 and streams == 0 and total >= 1,
	      "%s with gateway.protocol = \"http/1.1\": %d h2 connections, %d h2 streams, %d connections made"
	      % (what, h2, streams, total))


@test(timeout=50)
def tunnel_download_64mib(env):
	sim_up(env)
	sim = env.sim
	want = pattern_sha(MIB64)
	for p, how in both(env):
		before = metric(p, "arcproxy_tunnels_total", route="gateway")
		out = os.path.join(p.base, "down.bin")
		hdr = os.path.join(p.base, "down.hdr")
		r = curl_echo(p, sim, "-o", out, "-D", hdr, "https://echo.cloudsim.test/bytes/%d" % MIB64)
		check(r.returncode == 0, "curl 64 MiB through the gateway (%s): exit %d: %s"
		      % (how, r.returncode, r.stderr.decode(errors="replace").strip()))
		h = hashlib.sha256()
		with open(out, "rb") as f:
			for _ in range(MIB64 // (1 << 20) + 2):
				d = f.read(1 << 20)
				if not d:
					break
				h.update(d)
		size = os.path.getsize(out)
		os.unlink(out)
		check(size == MIB64, "downloaded %d bytes, not %d (%s)" % (size, MIB64, how))
		check(h.hexdigest() == want, "SHA-256 of the 64 MiB download differs (%s)" % how)
		with open(hdr) as f:
			check(re.search(r"(?im)^x-sha256:\s*%s\s*$" % want, f.read()), "echo's X-Sha256 differs (%s)" % how)
		e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 gateway 200 \d+ \d{8,}", "the 64 MiB tunnel (%s)" % how)
		check(e["down"] >= MIB64, "access log: %d bytes down for 64 MiB (%s)" % (e["down"], how))
		after = poll(lambda: metric(p, "arcproxy_tunnels_total", route="gateway") > before and
			     metric(p, "arcproxy_tunnels_total", route="gateway"), timeout=3)
		check(after, "arcproxy_tunnels_total{route=\"gateway\"} did not grow from %d (%s)" % (before, how))
	check_h1_only(env.h1, "the 64 MiB download")
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 .*status=200 up=\d+ down=\d{8,}"),
	      "the gateway's log has no CONNECT by machine=m1 with the 64 MiB\n" + sim.stderr_tail(8))


@test(timeout=50)
def tunnel_upload_64mib(env):
	sim_up(env)
	sim = env.sim
	path = os.path.join(env.proxy.base, "up.bin")
	data = os.urandom(MIB64)
	with open(path, "wb") as f:
		f.write(data)
	want = hashlib.sha256(data).hexdigest()
	del data
	try:
		for p, how in both(env):
			r = curl_echo(p, sim, "--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream",
				      "-H", "Expect:", "https://echo.cloudsim.test/upload")
			check(r.returncode == 0, "curl upload of 64 MiB through the gateway (%s): exit %d: %s"
			      % (how, r.returncode, r.stderr.decode(errors="replace").strip()))
			doc = json.loads(r.stdout)
			check(doc == {"length": MIB64, "sha256": want}, "echo saw %r, want length %d sha256 %s (%s)"
			      % (doc, MIB64, want, how))
			e = log_entries(p, r"CONNECT echo\.cloudsim\.test:443 gateway 200 \d{8,} ")
			check(e and e[-1]["up"] >= MIB64, "no access-log line with 64 MiB up on the gateway route (%s): %r"
			      % (how, p.access_log_lines()[-3:]))
	finally:
		os.unlink(path)
	check_h1_only(env.h1, "the 64 MiB upload")


@test(timeout=40)
def absolute_form_through_gateway(env):
	sim_up(env)
	sim = env.sim
	n = 8 << 20
	for p, how in both(env):
		tag = "abs%d" % time.monotonic_ns()
		with Conn(p.port, 20) as c:
			# Two requests on one client connection: keep-alive across the gateway route.
			c.request("GET", "http://plain.cloudsim.test/bytes/%d?%s" % (n, tag))
			r = c.read_response()
			check(r.status == 200 and len(r.body) == n and r.body == payload(n),
			      "GET through the gateway (%s): %r (%s)" % (how, r, r.header("proxy-status")))
			body = os.urandom(n)
			c.request("POST", "http://plain.cloudsim.test/echo?%s" % tag,
				  [("Content-Type", "application/octet-stream")], body)
			r = c.read_response("POST")
			check(r.status == 200, "POST through the gateway (%s): %r" % (how, r))
			doc = r.json()
			check(doc["body_length"] == n and doc["body_sha256"] == hashlib.sha256(body).hexdigest(),
			      "the origin got %d bytes with another hash (%s)" % (doc["body_length"], how))
			hosts = [v for k, v in doc["headers"] if k.lower() == "host"]
			check(hosts == ["plain.cloudsim.test"], "Host reached the origin as %r (%s)" % (hosts, how))
			check(doc["path"].startswith("/echo"), "the origin saw path %r (origin-form expected)" % doc["path"])
		es = log_entries(p, r" http://plain\.cloudsim\.test/\S*%s " % tag, count=2)
		check(len(es) == 2, "access-log lines for the two requests (%s): %r" % (how, es))
		for e in es:
			check(e["route"] == "gateway" and e["status"] == 200, "access-log line: %s" % e["line"])
		check(es[0]["down"] > n and es[1]["up"] > n, "access-log byte counts: %r" % [e["line"] for e in es])
	check_h1_only(env.h1, "absolute-form requests")
	check(sim.log_has(r"connect plain\.cloudsim\.test:80 machine=m1 client=\S+ target=127\.0\.0\.1:%d status=200"
			  % env.origin.http_port, timeout=8),	# logged when the pooled upstream closes
	      "the gateway's log has no CONNECT plain.cloudsim.test:80 by machine=m1\n" + sim.stderr_tail(8))


@test(timeout=50)
def absolute_form_64mib_both_ways(env):
	sim_up(env)
	body = os.urandom(MIB64)
	want = hashlib.sha256(body).hexdigest()
	for p, how in both(env):
		tag = "big%d" % time.monotonic_ns()
		r = fetch(p.port, "GET", "http://plain.cloudsim.test/bytes/%d?%s" % (MIB64, tag), timeout=30)
		check(r.status == 200 and len(r.body) == MIB64, "GET 64 MiB via the gateway (%s): %r" % (how, r))
		check(hashlib.sha256(r.body).hexdigest() == harness.sha(MIB64),
		      "SHA-256 of the 64 MiB GET differs (%s)" % how)
		del r
		r = fetch(p.port, "PUT", "http://plain.cloudsim.test/echo?%s" % tag, body=body, timeout=30)
		check(r.status == 200, "PUT 64 MiB via the gateway (%s): %r" % (how, r))
		doc = r.json()
		check(doc["body_length"] == MIB64 and doc["body_sha256"] == want,
		      "the origin got %d bytes with another hash (%s)" % (doc["body_length"], how))
		es = log_entries(p, r" http://plain\.cloudsim\.test/\S*%s gateway 200 " % tag, count=2)
		check(len(es) == 2, "access-log lines of the 64 MiB requests (%s): %r" % (how, p.access_log_lines()[-3:]))


# --- leaks ---------------------------------------------------------------------------

@test
def no_fd_leak(env):
	for p in (env.proxy, env.h1):
		check(p.alive(), "arcproxy %s is not running" % p.base)
		base = env.baselines[p]
		now = poll(lambda: p.fd_count() <= base and p.fd_count(), timeout=8, interval=0.25)
		check(now, "fd leak in %s: %d open fds, %d after the first tunnel\n%s"
		      % (p.base, p.fd_count(), base, "\n".join(p.fds())))
	for q in env.proxies:
		rep = q.sanitizer_report()
		check(not rep, "sanitizer report from arcproxy %s: %s" % (q.base, rep))
	for s in env.sims:
		rep = s.sanitizer_report()
		check(not rep, "sanitizer report from cloudsim %s: %s" % (s.base, rep))
