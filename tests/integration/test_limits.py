"""Limits and timeouts.

Expectations (limits set small for the module; after each the proxy still serves):
- A request head under limits.max_head_bytes passes; one over it gets 431, whether it ends
  or not; an origin response head over it gets 502.
- Slowloris: a head sent 1 byte per second gets 408 after limits.head_timeout_ms and the
  connection is closed within a few seconds.
- An idle keep-alive client connection is closed after limits.client_idle_timeout_ms, also
  after a response slower than the head timeout (the timer moves lazily); an idle
  tunnel after limits.tunnel_idle_timeout_ms, while a tunnel with traffic stays up.
- limits.max_connections = 3: the 4th client connection gets 503; once one closes, a new
  connection is served; the 3 open ones keep working.
- Backpressure: a client that stops reading a 32 MiB download (absolute-form or through a
  tunnel), or an origin that waits before reading a 32 MiB upload, does not make the proxy
  buffer it (RSS grows far less) or spin; the bytes arrive intact.
- Out of descriptors (RLIMIT_NOFILE small, many clients): max_connections is sized to the
  descriptors, so the excess get 503, no busy accept loop, no crash, and service resumes once
  the clients leave.
"""

import select
import socket
import threading
import time

from harness import (Conn, Proxy, check, fetch, healthy, origin, payload, poll, sha_of, standard_env,
		     std_routes, stop_env, test)

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

MAX_HEAD = 8192
HEAD_TIMEOUT_MS = 1000
CLIENT_IDLE_MS = 1500
TUNNEL_IDLE_MS = 1500


def setup():
	return standard_env(name="limits", limits={
		"max_head_bytes": MAX_HEAD,
		"head_timeout_ms": HEAD_TIMEOUT_MS,
		"client_idle_timeout_ms": CLIENT_IDLE_MS,
		"tunnel_idle_timeout_ms": TUNNEL_IDLE_MS,
	})


def teardown(env):
	return stop_env(env)


def _url(env, path):
	return "http://127.0.0.1:%d%s" % (env.origin.http_port, path)


@test
def head_under_limit_passes(env):
	big = "v" * (MAX_HEAD - 1500)
	r = fetch(env.proxy.port, "GET", _url(env, "/echo"), [("X-Big", big)])
	check(r.status == 200, "a %d-byte head (limit %d): status %d" % (len(big) + 100, MAX_HEAD, r.status))
	got = [v for k, v in r.json()["headers"] if k.lower() == "x-big"]
	check(got == [big], "the big header did not reach the origin intact")


@test
def oversize_head_431(env):
	big = "v" * (MAX_HEAD + 4000)
	with Conn(env.proxy.port) as c:
		c.request("GET", _url(env, "/echo"), [("X-Big", big)])
		r = c.read_response()
		check(r.status == 431, "a %d-byte head (limit %d): wanted 431, got %d" % (len(big), MAX_HEAD, r.status))
		check(c.at_eof(3), "connection left open after 431")
	with Conn(env.proxy.port) as c:
		# a head that never ends: the proxy must answer at the limit, not wait
		c.send("GET %s HTTP/1.1\r\nX-Endless: %s" % (_url(env, "/echo"), "w" * (2 * MAX_HEAD)))
		r = c.read_response()
		check(r.status == 431, "an endless head: wanted 431, got %d" % r.status)
	healthy(env.proxy, "after 431")


@test
def oversize_response_head_502(env):
	r = fetch(env.proxy.port, "GET", _url(env, "/bigheader/%d" % (2 * MAX_HEAD)))
	check(r.status == 502, "origin response head over the limit: wanted 502, got %d" % r.status)
	healthy(env.proxy, "after an oversize response head")


@test
def slowloris_408(env):
	req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: yes\r\n\r\n" % _url(env, "/bytes/1").encode()
	t0 = time.monotonic()
	with Conn(env.proxy.port, timeout=5) as c:
		for i in range(8):
			try:
				c.send(req[i:i + 1])
			except OSError:
				break
			if select.select([c.sock], [], [], 1.0)[0]:
				break
		try:
			r = c.read_response()
		except (EOFError, ConnectionResetError):
			r = None
		check(r is not None and r.status == 408,
		      "head dripped at 1 byte/s: wanted 408 after %d ms, got %r" % (HEAD_TIMEOUT_MS, r))
		check(c.at_eof(3), "connection not closed after 408")
	dt = time.monotonic() - t0
	check(dt <= HEAD_TIMEOUT_MS / 1000 + 3, "slowloris connection lived %.1fs" % dt)
	healthy(env.proxy, "after a slowloris client")


@test
def client_idle_timeout(env):
	with Conn(env.proxy.port, timeout=5) as c:
		c.request("GET", _url(env, "/bytes/10"))
		check(c.read_response().status == 200, "first request failed")
		t0 = time.monotonic()
		closed = c.at_eof(CLIENT_IDLE_MS / 1000 + 3)
		dt = time.monotonic() - t0
	check(closed, "idle keep-alive connection still open %.1fs after client_idle_timeout_ms=%d"
	      % (dt, CLIENT_IDLE_MS))
	check(dt >= CLIENT_IDLE_MS / 1000 * 0.8, "idle connection closed after only %.2fs" % dt)


@test
def an_exchange_outlasting_the_head_timeout_then_the_idle_wait(env):
	# The conn's one timer is set for the head timeout and only moved on
	# lazily: a response slower than head_timeout_ms (but within the exchange's
	# idle time) must still arrive, and the keep-alive wait after it must run
	# its full length from the response's end.
	delay = (HEAD_TIMEOUT_MS + TUNNEL_IDLE_MS) / 2
	with Conn(env.proxy.port, timeout=5) as c:
		c.request("GET", _url(env, "/echo?delay_ms=%d" % delay))
		r = c.read_response()
		check(r.status == 200, "a response after %d ms (head timeout %d ms): status %d"
		      % (delay, HEAD_TIMEOUT_MS, r.status))
		t0 = time.monotonic()
		closed = c.at_eof(CLIENT_IDLE_MS / 1000 + 3)
		dt = time.monotonic() - t0
	check(closed, "keep-alive connection still open %.1fs after the slow response" % dt)
	check(dt >= CLIENT_IDLE_MS / 1000 * 0.8,
	      "keep-alive wait after a slow response was only %.2fs (client_idle_timeout_ms=%d)"
	      % (dt, CLIENT_IDLE_MS))


@test
def tunnel_idle_timeout(env):
	with Conn(env.proxy.port, timeout=5) as c:
		check(c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port).status == 200, "CONNECT failed")
		# traffic every 0.5 s for 1.6 tunnel-idle periods keeps it up
		for i in range(int(TUNNEL_IDLE_MS * 1.6 / 500)):
			c.send(b"%d\n" % i)
			check(c.read_exact(len(b"%d\n" % i)) == b"%d\n" % i, "busy tunnel broke after %d pings" % i)
			time.sleep(0.5)
		t0 = time.monotonic()
		closed = c.at_eof(TUNNEL_IDLE_MS / 1000 + 3)
		dt = time.monotonic() - t0
	check(closed, "idle tunnel still open %.1fs after tunnel_idle_timeout_ms=%d" % (dt, TUNNEL_IDLE_MS))


@test
def max_connections_503(env):
	o = origin()
	p = Proxy(routes=std_routes(o), limits={"max_connections": 3}, name="maxconn").start()
	env.extra.append(p)
	url = _url(env, "/bytes/10")
	conns = []
	try:
		for i in range(3):
			c = Conn(p.port)
			conns.append(c)
			c.request("GET", url)
			check(c.read_response().status == 200, "connection %d of 3 not served" % (i + 1))
		with Conn(p.port, timeout=5) as c4:
			if not select.select([c4.sock], [], [], 2.0)[0]:
				c4.request("GET", url)
			try:
				r = c4.read_response()
			except (EOFError, ConnectionResetError) as e:
				raise AssertionError("4th connection over max_connections=3 got no 503 (%r)" % e)
			check(r.status == 503, "4th connection: wanted 503, got %d" % r.status)
			check(c4.at_eof(3), "4th connection left open after 503")
		conns[1].request("GET", url)
		check(conns[1].read_response().status == 200, "an open connection stopped working")
		conns.pop(0).close()

		def served():
			try:
				return fetch(p.port, "GET", url, timeout=3).status == 200
			except (OSError, EOFError):
				return False
		check(poll(served, timeout=3, interval=0.2), "no connection served after one of 3 closed")
	finally:
		for c in conns:
			c.close()
	check(p.alive(), "arcproxy died at max_connections")


@test(timeout=90)
def backpressure_slow_reader(env):
	o = origin()
	p = Proxy(routes=std_routes(o), limits={"buffer_bytes": 262144}, name="backpressure").start()
	env.extra.append(p)
	n = 32 << 20
	for mode in ("absolute-form", "tunnel"):
		with Conn(p.port, timeout=30) as c:
			if mode == "tunnel":
				check(c.connect_tunnel("127.0.0.1:%d" % o.http_port).status == 200, "CONNECT failed")
			time.sleep(0.2)
			rss0, cpu0 = p.rss_bytes(), p.cpu_seconds()
			if mode == "tunnel":
				c.request("GET", "/bytes/%d" % n, host="127.0.0.1:%d" % o.http_port)
			else:
				c.request("GET", _url(env, "/bytes/%d" % n))
			time.sleep(1.5)	# the client reads nothing meanwhile
			grew, cpu = p.rss_bytes() - rss0, p.cpu_seconds() - cpu0
			r = c.read_response()
		check(r.status == 200 and len(r.body) == n and r.body == payload(n),
		      "%s: the stalled %d-byte body arrived damaged (%d bytes)" % (mode, n, len(r.body)))
		check(grew < 16 << 20, "%s: RSS grew %d MiB while the client did not read: no backpressure"
		      % (mode, grew >> 20))
		check(cpu < 0.5, "%s: %.2fs of CPU in 1.5s with a stalled client: busy loop" % (mode, cpu))
	# upload to an origin that waits before reading the body
	data = payload(n)
	with Conn(p.port, timeout=30) as c:
		time.sleep(0.2)
		rss0 = p.rss_bytes()
		c.request("POST", _url(env, "/echo?delay_ms=2000"), [("Content-Length", str(n))])
		errors = []

		def send():
			try:
				c.send(data)
			except OSError as e:
				errors.append(e)
		t = threading.Thread(target=send, daemon=True)
		t.start()
		time.sleep(1.5)
		grew = p.rss_bytes() - rss0
		r = c.read_response()
		t.join(10)
	check(not errors and r.status == 200, "upload to a slow origin: %r %r" % (r, errors))
	j = r.json()
	check((j["body_length"], j["body_sha256"]) == (n, sha_of(data)), "upload to a slow origin arrived damaged")
	check(grew < 16 << 20, "upload: RSS grew %d MiB while the origin did not read: no backpressure" % (grew >> 20))


@test(timeout=40)
def emfile_backoff(env):
	o = origin()
	nofile = 160
	p = Proxy(routes=std_routes(o), nofile=nofile, name="emfile").start()
	env.extra.append(p)
	healthy(p, "at start")
	conns = []
	try:
		for _ in range(96):
			try:
				conns.append(socket.create_connection(("127.0.0.1", p.port), timeout=2))
			except OSError:
				break
		time.sleep(0.5)
		# max_connections is sized to the descriptors: the rest are refused, none runs out
		check(p.fd_count() < nofile, "arcproxy holds %d of %d fds: the limit did not fit"
		      % (p.fd_count(), nofile))
		cpu0 = p.cpu_seconds()
		time.sleep(1.0)
		cpu = p.cpu_seconds() - cpu0
		check(p.alive(), "arcproxy exited when out of descriptors")
		check(cpu < 0.3, "%.2fs of CPU in 1s while out of descriptors: busy accept loop" % cpu)
		answers = {}
		deadline = time.monotonic() + 2
		while time.monotonic() < deadline and len(answers) < len(conns):
			ready = select.select([s for s in conns if s not in answers], [], [], 0.2)[0]
			for s in ready:
				try:
					answers[s] = s.recv(4096)
				except OSError:
					answers[s] = b""
		refused = sum(1 for a in answers.values() if a.startswith(b"HTTP/1.1 503 "))
		silent = len(conns) - len(answers)
		check(refused + silent == len(conns), "answers other than 503: %r"
		      % sorted({a[:12] for a in answers.values() if not a.startswith(b"HTTP/1.1 503 ")}))
		check(refused >= len(conns) // 2, "only %d of %d connections got 503 (%d accepted)"
		      % (refused, len(conns), silent))
	finally:
		for s in conns:
			s.close()

	def served():
		try:
			return fetch(p.port, "GET", _url(env, "/bytes/10"), timeout=2).status == 200
		except (OSError, EOFError):
			return False
	check(poll(served, timeout=6, interval=0.3), "not serving again after the clients left")


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
