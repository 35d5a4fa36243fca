"""Operations: access log, metrics, health, reload, stop, config check, workers.

Expectations:
- The access log (access_log = "access.log", under the state dir) gets one line per request
  or tunnel with client address, method, target, route, status and bytes each way.
- Admin /metrics is Prometheus text whose arcproxy_ counters (requests by route and code,
  tunnels, bytes) grow with traffic, and whose open-connection and open-tunnel gauges return
  to 0 when all is closed; /healthz answers 200.
- SIGHUP with a config that now denies a destination: new CONNECTs get 403, a tunnel opened
  before keeps working; a broken config on SIGHUP leaves the proxy up on the old one.
- SIGTERM with an open tunnel: the listener stops accepting, the tunnel keeps working while
  draining, and the process exits 0 within limits.drain_timeout_ms plus a margin; an idle
  proxy exits at once.
- arcproxy -n: exit 0 on a good config; non-zero naming the file and the line on a broken one.
- workers = 2 serves sequential and concurrent requests and tunnels.
- A "[::1]:PORT" listener serves IPv6 clients.

The access-log layout and metric names live at the top of this file: adjust them there.
"""

import re
import signal
import threading
import time

from harness import (Conn, Proxy, check, curl, deny, fetch, healthy, metric_sum, origin, payload,
		     poll, standard_env, std_routes, stop_env, test)

# --- the access-log layout and metric names the tests expect -----------------

LOG_CLIENT = r"\b127\.0\.0\.1\b"
LOG_ROUTE = {"direct": r"\bdirect\b", "deny": r"\bden(y|ied)\b"}


def log_line_matches(line, method, target_re, route, status, byte_ranges):
	"""A line names the client, method, target, route and status, and for each
	(lo, hi) in byte_ranges a distinct integer field lies in [lo, hi]."""
	if not (re.search(LOG_CLIENT, line) and re.search(r"\b%s\b" % method, line)
		and re.search(target_re, line) and re.search(LOG_ROUTE[route], line)
		and re.search(r"(?<![\d.:])%d(?![\d.])" % status, line)):
		return False
	nums = [int(n) for n in re.findall(r"(?<![\d.:])\d+(?![\d.])", line)]
	for lo, hi in byte_ranges:
		hit = next((i for i, n in enumerate(nums) if lo <= n <= hi), None)
		if hit is None:
			return False
		nums.pop(hit)
	return True


M_REQUESTS = "arcproxy_requests_total"	# labels route="direct", code="200" or "2xx"
CODE_2XX = "200|2xx"
CODE_403 = "403|4xx"
M_TUNNELS = "arcproxy_tunnels_total"
M_BYTES = "arcproxy_bytes_total"		# all series summed: bytes both ways
M_OPEN_GAUGES = ("arcproxy_connections_open", "arcproxy_tunnels_open")	# 0 when all is closed

# ------------------------------------------------------------------------------


def setup():
	o = origin()
	return standard_env(name="ops", routes=[deny("*:%d" % o.deny_port)])


def teardown(env):
	return stop_env(env)


def _url(env, path):
	return "http://127.0.0.1:%d%s" % (env.origin.http_port, path)


def _tunnel_echo(port, echo_port, data):
	"""CONNECT to the echo service, send data, half-close, return all bytes read back."""
	with Conn(port, timeout=10) as c:
		r = c.connect_tunnel("127.0.0.1:%d" % echo_port)
		check(r.status == 200, "CONNECT status %d" % r.status)
		t = threading.Thread(target=lambda: (c.send(data), c.shutdown_wr()), daemon=True)
		t.start()
		got = c.read_to_eof(limit=len(data) + 100)
		t.join(5)
		return got


@test
def access_log_lines(env):
	n = 123457
	tag = "t%d" % time.monotonic_ns()
	r = fetch(env.proxy.port, "GET", _url(env, "/bytes/%d?tag=%s" % (n, tag)))
	check(r.status == 200, "GET status %d" % r.status)
	m = 150001
	got = _tunnel_echo(env.proxy.port, env.origin.echo_port, payload(m))
	check(got == payload(m) + b"BYE\n", "tunnel echo differs")
	with Conn(env.proxy.port) as c:
		check(c.connect_tunnel("127.0.0.1:%d" % env.origin.deny_port).status == 403, "deny rule not applied")

	def find(pred):
		return [l for l in env.proxy.access_log_lines() if pred(l)]
	get_lines = poll(lambda: find(lambda l: log_line_matches(
		l, "GET", re.escape("/bytes/%d" % n), "direct", 200, [(n, n + 2000)])), timeout=3)
	check(get_lines, "no access-log line for the GET (client, GET, target, direct, 200, %d+ bytes);"
	      " log tail:\n%s" % (n, "\n".join(env.proxy.access_log_lines()[-5:])))
	check(len(find(lambda l: tag in l)) == 1, "not exactly one access-log line for one request")
	tun = poll(lambda: find(lambda l: log_line_matches(
		l, "CONNECT", re.escape("127.0.0.1:%d" % env.origin.echo_port), "direct", 200,
		[(m, m + 1000), (m, m + 1000)])), timeout=3)
	check(tun, "no access-log line for the tunnel (client, CONNECT, target, direct, 200, bytes each way);"
	      " log tail:\n%s" % "\n".join(env.proxy.access_log_lines()[-5:]))
	den = poll(lambda: find(lambda l: log_line_matches(
		l, "CONNECT", re.escape("127.0.0.1:%d" % env.origin.deny_port), "deny", 403, [])), timeout=3)
	check(den, "no access-log line for the denied CONNECT (route deny, 403)")


@test
def metrics_grow(env):
	before = env.proxy.metrics()
	n = 123457
	for _ in range(3):
		check(fetch(env.proxy.port, "GET", _url(env, "/bytes/%d" % n)).status == 200, "GET failed")
	got = _tunnel_echo(env.proxy.port, env.origin.echo_port, payload(50000))
	check(len(got) == 50004, "tunnel echo short")
	with Conn(env.proxy.port) as c:
		check(c.connect_tunnel("127.0.0.1:%d" % env.origin.deny_port).status == 403, "deny rule not applied")

	def grown():
		after = env.proxy.metrics()

		def d(name, **labels):
			return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)
		return {
			"requests direct 200": d(M_REQUESTS, route="direct", code=CODE_2XX) >= 3,
			"requests 403": d(M_REQUESTS, code=CODE_403) >= 1,
			"tunnels": d(M_TUNNELS) >= 1,
			"bytes": d(M_BYTES) >= 3 * n + 2 * 50000,
		}
	if not poll(lambda: all(grown().values()), timeout=3):
		names = sorted({k[0] for k in env.proxy.metrics()})
		raise AssertionError("metrics did not grow: %s; series: %s"
				     % ([k for k, v in grown().items() if not v], names[:40]))
	status, headers, body = env.proxy.admin_get("/metrics")
	check(any(l.startswith("arcproxy_") for l in body.splitlines()), "no arcproxy_ metric lines")
	check(headers.get("content-type", "").startswith("text/plain"),
	      "/metrics Content-Type %r, Prometheus text is text/plain" % headers.get("content-type"))


@test
def open_gauges_return_to_zero(env):
	with Conn(env.proxy.port) as c:
		check(c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port).status == 200, "CONNECT failed")
		m = env.proxy.metrics()
		check(all(metric_sum(m, g) >= 1 for g in M_OPEN_GAUGES),
		      "with a tunnel open: %s" % {g: metric_sum(m, g) for g in M_OPEN_GAUGES})

	def zero():
		m = env.proxy.metrics()
		return all(metric_sum(m, g) == 0 for g in M_OPEN_GAUGES)
	if not poll(zero, timeout=3, interval=0.1):
		m = env.proxy.metrics()
		raise AssertionError("open gauges after everything closed: %s"
				     % {g: metric_sum(m, g) for g in M_OPEN_GAUGES})


@test
def healthz(env):
	status, _, _ = env.proxy.admin_get("/healthz")
	check(status == 200, "/healthz status %d" % status)


@test
def sighup_reload_rules(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="reload").start()
	env.extra.append(p)
	with Conn(p.port, timeout=10) as t1:
		check(t1.connect_tunnel("127.0.0.1:%d" % o.echo_port).status == 200, "CONNECT before reload failed")
		t1.send(b"before\n")
		check(t1.read_exact(7) == b"before\n", "no echo before reload")
		p.write_config(routes=[deny("127.0.0.1:%d" % o.echo_port)] + std_routes(o))
		p.reload()

		def denied():
			with Conn(p.port) as c:
				return c.connect_tunnel("127.0.0.1:%d" % o.echo_port).status == 403
		check(poll(denied, timeout=3, interval=0.1), "new CONNECTs not denied 3s after SIGHUP")
		check(p.alive(), "arcproxy exited on SIGHUP")
		t1.send(b"after\n")
		check(t1.read_exact(6) == b"after\n", "the tunnel opened before the reload stopped working")
		t1.shutdown_wr()
		check(t1.read_to_eof(limit=100) == b"BYE\n", "old tunnel's half-close lost after reload")
	r = fetch(p.port, "GET", _url(env, "/bytes/10"))
	check(r.status == 200, "a destination the new rules allow: %d" % r.status)


@test
def sighup_broken_config_keeps_running(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="badreload").start()
	env.extra.append(p)
	p.write_config(text="listen = [ \"127.0.0.1:%d\" ;\nworkers = ;\n" % p.port)
	p.reload()
	time.sleep(0.5)
	check(p.alive(), "arcproxy exited on SIGHUP with a broken config")
	r = fetch(p.port, "GET", _url(env, "/bytes/10"))
	check(r.status == 200, "not serving on the old config after a broken reload: %d" % r.status)


@test(timeout=40)
def sigterm_drains_then_exits(env):
	o = origin()
	drain_ms = 2000
	p = Proxy(routes=std_routes(o), limits={"drain_timeout_ms": drain_ms}, name="drain").start()
	env.extra.append(p)
	with Conn(p.port, timeout=10) as t:
		check(t.connect_tunnel("127.0.0.1:%d" % o.echo_port).status == 200, "CONNECT failed")
		t.send(b"one\n")
		check(t.read_exact(4) == b"one\n", "no echo")
		t0 = time.monotonic()
		p.signal(signal.SIGTERM)
		time.sleep(0.3)

		def refused():
			try:
				with Conn(p.port, timeout=1) as c:
					c.request("GET", _url(env, "/bytes/10"))
					return c.read_response().status != 200
			except (OSError, EOFError):
				return True
		check(poll(refused, timeout=1, interval=0.1), "still serving new connections after SIGTERM")
		check(p.alive(), "exited %.1fs after SIGTERM with a live tunnel, drain_timeout_ms=%d"
		      % (time.monotonic() - t0, drain_ms))
		t.send(b"two\n")
		check(t.read_exact(4) == b"two\n", "the live tunnel was cut at once instead of drained")
		try:
			rc = p.proc.wait(drain_ms / 1000 + 3)
		except Exception:
			raise AssertionError("still running %.1fs after SIGTERM (drain_timeout_ms=%d)"
					     % (time.monotonic() - t0, drain_ms))
		check(rc == 0, "exit status %s after SIGTERM" % rc)
		check(t.at_eof(2), "tunnel still open after the process exited")


@test
def sigterm_idle_exits_promptly(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="idle-stop").start()
	env.extra.append(p)
	healthy(p, "at start")
	time.sleep(0.2)
	t0 = time.monotonic()
	p.signal(signal.SIGTERM)
	try:
		rc = p.proc.wait(5)
	except Exception:
		raise AssertionError("an idle proxy still runs 5s after SIGTERM")
	dt = time.monotonic() - t0
	check(dt <= 1.5, "an idle proxy took %.1fs to exit on SIGTERM" % dt)
	check(rc == 0, "exit status %s" % rc)


@test
def check_config_flag(env):
	p = Proxy(routes=std_routes(origin()), name="check")
	r = p.check_config()
	check(r.returncode == 0, "-n on a good config: exit %d: %s" % (r.returncode, r.stderr.strip()))
	cases = [
		("syntax error", 5, "# line 1\nlisten = [ \"127.0.0.1:%d\" ];\nworkers = 1;\n"
		 "default_route = \"direct\";\nlimits = { max_head_bytes = ; };\n" % p.port),
		("bad route value", 4, "# line 1\nlisten = [ \"127.0.0.1:%d\" ];\nworkers = 1;\n"
		 "routes = ( { match = \"*.x.test:443\"; route = \"sideways\"; } );\n" % p.port),
	]
	for what, line, text in cases:
		p.write_config(text=text)
		r = p.check_config()
		out = r.stdout + r.stderr
		check(r.returncode != 0, "-n on a config with a %s: exit 0" % what)
		check("arcproxy.conf" in out, "-n (%s): message does not name the file: %r" % (what, out.strip()))
		check(re.search(r"(:|line\s*)%d\b" % line, out),
		      "-n (%s): message does not name line %d: %r" % (what, line, out.strip()))
	p.cleanup()


@test
def workers_two(env):
	o = origin()
	p = Proxy(routes=std_routes(o), workers=2, name="workers").start()
	env.extra.append(p)
	for i in range(20):
		r = fetch(p.port, "GET", _url(env, "/bytes/%d" % (1000 + i)))
		check(r.status == 200 and r.body == payload(1000 + i), "request %d: %r" % (i, r))
	results = []

	def one(i):
		try:
			r = fetch(p.port, "GET", _url(env, "/bytes/%d" % (1 << 20)), timeout=20)
			results.append(r.status == 200 and r.body == payload(1 << 20))
		except (OSError, EOFError) as e:
			results.append(e)
	ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(6)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(25)
	check(results == [True] * 6, "concurrent requests with workers=2: %r" % results)
	got = _tunnel_echo(p.port, o.echo_port, payload(100000))
	check(got == payload(100000) + b"BYE\n", "tunnel with workers=2 failed")


@test
def ipv6_listener(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="ipv6")
	p.write_config(listen=["127.0.0.1:%d" % p.port, "[::1]:%d" % p.port])
	p.start()
	env.extra.append(p)
	r = curl("-x", "http://[::1]:%d" % p.port, _url(env, "/bytes/1000"), timeout=10)
	check(r.returncode == 0 and r.stdout == payload(1000),
	      "curl through the [::1] listener: exit %d %s" % (r.returncode, r.stderr.decode().strip()))


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
