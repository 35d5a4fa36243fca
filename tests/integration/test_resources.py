"""Resources under attack: open files and buffered memory (issue 15, defects 9 and 11).

Expectations:
- Open files: arcproxy raises its soft RLIMIT_NOFILE to the hard limit at start and sizes
  limits.max_connections to what fits (a client and an upstream descriptor each, plus a reserve),
  logging the numbers once.  With RLIMIT_NOFILE 256 (soft = hard) and more CONNECT tunnels than
  fit, the excess get 503 at once, never 500 and never silence; the earlier tunnels still relay;
  the log has no flood of accept back-off lines; the proxy serves again once they close.  The
  same on the gateway route (HTTP/1.1, a TLS connection per tunnel): 503s, and the gateway stays up.
- Buffered memory: with a small limits.buffer_budget_bytes, many clients that request a large
  download and stop reading (some at once, some after reading fast, so that their windows grew)
  cannot push arcproxy_buffered_bytes past the budget (plus one socket read per connection), RSS
  grows little, a normal client's download completes meanwhile, and the gauge returns to 0.
  Pipelined requests queued behind a response the client does not read pin at most 16 KiB of
  input (plus the response's window): a client cannot park megabytes of them.
"""

import re
import resource
import socket
import threading
import time

from harness import (Conn, Proxy, check, fetch, healthy, metric_sum, origin, payload, poll, std_routes,
		     test)

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

NOFILE = 256
BUDGET = 256 * 1024		# limits.buffer_budget_bytes for the slow-reader test
SLOW_CLIENTS = 40
READ_SLOP = 8 * 1024		# a connection may take one socket read past the budget


def setup():
	return None


def teardown(env):
	return []


def _open_tunnels(p, target, want, timeout=2.0):
	"""CONNECT up to want tunnels; returns (open Conns, statuses); None stands for no answer."""
	tunnels, statuses, silent = [], [], 0
	for _ in range(want):
		try:
			c = Conn(p.port, timeout=timeout)
		except OSError:
			statuses.append(None)
			silent += 1
			if silent >= 3:
				break
			continue
		try:
			r = c.connect_tunnel(target)
		except (OSError, EOFError, socket.timeout):
			c.close()
			statuses.append(None)
			silent += 1
			if silent >= 3:
				break
			continue
		statuses.append(r.status)
		if r.status == 200:
			tunnels.append(c)
		else:
			c.close()
	return tunnels, statuses


@test(timeout=90)
def fd_limit_gives_503(env):
	o = origin()
	p = Proxy(routes=std_routes(o), nofile=NOFILE, name="fdlimit").start()
	tunnels = []
	try:
		healthy(p, "at start")
		tunnels, statuses = _open_tunnels(p, "127.0.0.1:%d" % o.echo_port, NOFILE)
		ok = statuses.count(200)
		check(None not in statuses, "CONNECTs with no answer at all (accept back-off?): %d of %d; "
		      "answers %s" % (statuses.count(None), len(statuses), sorted(set(map(str, statuses)))))
		check(500 not in statuses, "%d CONNECTs got 500 when out of descriptors (want 503)"
		      % statuses.count(500))
		check(ok >= 32, "only %d tunnels fit under %d descriptors" % (ok, NOFILE))
		check(statuses.count(503) == len(statuses) - ok,
		      "over the limit, answers other than 503: %s" % sorted(set(map(str, statuses))))
		check(statuses.count(503) > 0, "no 503 for %d tunnels under %d descriptors" % (len(statuses), NOFILE))
		check(statuses[:ok] == [200] * ok, "a 503 came before the last 200: %s" % statuses)
		check(p.fd_count() <= NOFILE - 8, "arcproxy holds %d of %d descriptors: no reserve left"
		      % (p.fd_count(), NOFILE))
		for i, c in enumerate(tunnels):
			msg = b"tunnel %d\n" % i
			c.send(msg)
			check(c.read_exact(len(msg)) == msg, "tunnel %d of %d stopped relaying" % (i, ok))
		m = p.metrics()
		check(metric_sum(m, "arcproxy_errors_total", kind="internal") == 0,
		      "arcproxy counted internal errors")
		backoffs = len(re.findall(r"accept: .*pausing", p.stderr_text()))
		check(backoffs <= 1, "%d accept back-off lines in the log" % backoffs)
		check(p.log_has(r"open files limit %d .*max_connections \d+ lowered to \d+" % NOFILE),
		      "no start-up line with the open files limit and the lowered max_connections:\n%s"
		      % p.stderr_tail(10))
	finally:
		for c in tunnels:
			c.close()
	try:
		check(poll(lambda: fetch(p.port, "GET", "http://127.0.0.1:%d/bytes/10" % o.http_port,
					 timeout=3).status == 200, timeout=5, interval=0.3),
		      "not serving again after the tunnels closed")
	finally:
		p.stop()
		rep = p.sanitizer_report()
		p.cleanup()
	check(rep is None, "sanitizer: %s" % rep)


@test(timeout=120)
def fd_limit_gateway_stays_up(env):
	import test_cloudsim as tcs
	sim = tcs.Sim()
	for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1")):
		r = sim.run(*args)
		check(r.returncode == 0, "cloudsim %s: %s" % (" ".join(args), r.stderr.strip()))
	sim.write_config()
	sim.start()
	genv = tcs.Env(sim)
	tunnels = []
	try:
		# HTTP/1.1 to the gateway: every tunnel is a TLS connection of its own
		p = tcs.arcproxy_via(genv, protocol="http/1.1", start=False, name="fdlimit-gw")
		p.nofile = NOFILE
		p.start()
		up = lambda: metric_sum(p.metrics(), "arcproxy_gateway_up") == 1
		check(poll(up, timeout=10), "the gateway is not up at start:\n%s" % p.stderr_tail(10))
		tunnels, statuses = _open_tunnels(p, "echo.cloudsim.test:443", NOFILE)
		ok = statuses.count(200)
		check(None not in statuses, "CONNECTs with no answer at all: %d of %d" % (statuses.count(None), len(statuses)))
		check(not {500, 502} & set(statuses), "over the limit: %d got 500, %d got 502 (want 503)"
		      % (statuses.count(500), statuses.count(502)))
		check(ok >= 32 and statuses.count(503) == len(statuses) - ok > 0,
		      "wanted 200s then 503s under %d descriptors: %s" % (NOFILE, sorted(set(map(str, statuses)))))
		check(up(), "the gateway was marked down when arcproxy ran out of descriptors:\n%s" % p.stderr_tail(10))
		for i in (0, ok - 1):
			inner = tcs.inner_conn(sim, tunnels[i])
			inner.request("GET", "/bytes/100", host="echo.cloudsim.test")
			r = inner.read_response()
			check(r.status == 200 and len(r.body) == 100, "tunnel %d of %d through the gateway: %r" % (i, ok, r))
	finally:
		for c in tunnels:
			c.close()
		problems = tcs.stop_others(genv)
		sim.stop()
		rep = sim.sanitizer_report()
		if not problems and rep is None:
			sim.cleanup()
	check(not problems and rep is None, "problems: %s %s" % (problems, rep))


@test
def soft_nofile_raised_to_hard(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="fdraise")
	kw = p._popen_kw()
	kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, 4096))
	p._popen_kw = lambda: kw
	p.start()
	try:
		with open("/proc/%d/limits" % p.pid) as f:
			m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", f.read(), re.M)
		check(m and m.group(1) == "4096", "soft RLIMIT_NOFILE %s (hard %s): not raised to the hard limit"
		      % (m and m.group(1), m and m.group(2)))
		check(p.log_has(r"open files limit 4096\b"), "no start-up line with the open files limit:\n%s"
		      % p.stderr_tail(10))
		healthy(p, "after raising the limit")
	finally:
		p.stop()
		p.cleanup()


def _sanitized(p):
	"""Whether the daemon runs with AddressSanitizer."""
	with open("/proc/%d/maps" % p.pid) as f:
		return "libasan" in f.read()


def _slow_reader(port, url, warm_bytes):
	"""A client with a tiny receive buffer that asks for url, reads warm_bytes, then stops reading."""
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	s.settimeout(10)
	s.connect(("127.0.0.1", port))
	host = re.match(r"http://([^/]+)", url).group(1)
	s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (url, host)).encode())
	got = 0
	while got < warm_bytes:
		d = s.recv(min(65536, warm_bytes - got))
		if not d:
			break
		got += len(d)
	return s


@test(timeout=90)
def buffer_budget_holds(env):
	o = origin()
	p = Proxy(routes=std_routes(o), limits={"buffer_budget_bytes": BUDGET}, name="budget").start()
	slow = []
	try:
		healthy(p, "at start")
		time.sleep(0.3)
		rss0 = p.rss_bytes()
		big = "http://127.0.0.1:%d/bytes/%d" % (o.http_port, 8 << 20)
		# half stall at once; half read fast first (their windows grow), then stall
		for i in range(SLOW_CLIENTS):
			slow.append(_slow_reader(p.port, big, 0 if i % 2 == 0 else 2 << 20))
		peak, samples, stop = [0], [0], threading.Event()

		def sample():
			while not stop.is_set():
				try:
					v = metric_sum(p.metrics(), "arcproxy_buffered_bytes")
				except (OSError, AssertionError):
					v = 0
				peak[0] = max(peak[0], v)
				samples[0] += 1
				time.sleep(0.05)
		t = threading.Thread(target=sample, daemon=True)
		t.start()
		time.sleep(1.0)
		# a normal client downloads meanwhile
		n = 4 << 20
		t0 = time.monotonic()
		r = fetch(p.port, "GET", "http://127.0.0.1:%d/bytes/%d" % (o.http_port, n), timeout=30)
		dt = time.monotonic() - t0
		time.sleep(1.0)
		stop.set()
		t.join(5)
		grew = p.rss_bytes() - rss0
		m = p.metrics()
		held = metric_sum(m, "arcproxy_buffered_bytes") if ("arcproxy_buffered_bytes", frozenset()) in m else None
	finally:
		for s in slow:
			s.close()
	try:
		check(r.status == 200 and r.body == payload(n),
		      "a normal %d-byte download beside %d slow readers: %r" % (n, SLOW_CLIENTS, r))
		# (AddressSanitizer's quarantine keeps freed memory: RSS says nothing there)
		check(grew < 12 << 20 or _sanitized(p), "RSS grew %d MiB under %d slow readers with a %d KiB "
		      "budget" % (grew >> 20, SLOW_CLIENTS, BUDGET // 1024))
		check(held is not None, "no arcproxy_buffered_bytes on /metrics")
		check(samples[0] >= 10, "only %d samples of /metrics" % samples[0])
		bound = BUDGET + SLOW_CLIENTS * READ_SLOP
		check(peak[0] <= bound, "buffered bytes peaked at %d KiB with a %d KiB budget (bound %d KiB)"
		      % (peak[0] // 1024, BUDGET // 1024, bound // 1024))
		check(held > 0, "arcproxy_buffered_bytes is 0 while %d clients stall: nothing counted" % SLOW_CLIENTS)
		check(poll(lambda: metric_sum(p.metrics(), "arcproxy_buffered_bytes") == 0, timeout=5),
		      "arcproxy_buffered_bytes does not return to 0 when the clients have gone: %d"
		      % metric_sum(p.metrics(), "arcproxy_buffered_bytes"))
		print("buffer budget: peak %d KiB (budget %d KiB), RSS +%d KiB, normal download %.2fs"
		      % (peak[0] // 1024, BUDGET // 1024, grew // 1024, dt))
	finally:
		p.stop()	# a failed check above leaves no arcproxy behind for teardown to find
	rep = p.sanitizer_report()
	p.cleanup()
	check(rep is None, "sanitizer: %s" % rep)


def _junk_after_answer(lsock, answered):
	"""An origin that answers one GET per connection, then sends junk while the proxy pools it."""
	while True:
		try:
			s, _ = lsock.accept()
		except OSError:
			return
		with s:
			buf = b""
			while b"\r\n\r\n" not in buf:
				d = s.recv(4096)
				if not d:
					break
				buf += d
			s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			answered.set()
			time.sleep(0.3)
			try:
				s.sendall(b"J" * 3000)
				s.recv(1)	# until the proxy closes it
			except OSError:
				pass


@test(timeout=60)
def junk_on_a_pooled_upstream_leaves_no_bytes_counted(env):
	# A pooled upstream's buffers stay in the worker's budget while it idles:
	# bytes it sends there close it, and leave the count with it.
	lsock = socket.socket()
	lsock.bind(("127.0.0.1", 0))
	lsock.listen(4)
	port = lsock.getsockname()[1]
	answered = threading.Event()
	threading.Thread(target=_junk_after_answer, args=(lsock, answered), daemon=True).start()
	p = Proxy(routes=[{"match": "127.0.0.1:%d" % port, "route": "direct"}], name="pooljunk").start()
	try:
		url = "http://127.0.0.1:%d/x" % port
		for i in range(2):
			answered.clear()
			r = fetch(p.port, "GET", url)
			check(r.status == 200 and r.body == b"ok", "GET %d through the junk origin: %r" % (i, r))
			time.sleep(0.6)		# the junk arrives while the upstream idles
			check(poll(lambda: metric_sum(p.metrics(), "arcproxy_buffered_bytes") == 0, timeout=5),
			      "junk from a pooled upstream stays counted: arcproxy_buffered_bytes %d"
			      % metric_sum(p.metrics(), "arcproxy_buffered_bytes"))
		check(p.alive(), "arcproxy died after junk from pooled upstreams")
	finally:
		lsock.close()
		p.stop()
		p.cleanup()


@test(timeout=60)
def pipelined_bytes_bounded(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="pipeline").start()
	try:
		healthy(p, "at start")
		big = "http://127.0.0.1:%d/bytes/%d" % (o.http_port, 8 << 20)
		small = ("GET http://127.0.0.1:%d/bytes/10 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
			 % o.http_port).encode()
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		s.connect(("127.0.0.1", p.port))
		s.settimeout(0.5)
		s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % big).encode())
		# a mile of pipelined requests behind a response the client does not read
		sent = 0
		try:
			for _ in range(20000):
				sent += s.send(small * 64)
		except (socket.timeout, BlockingIOError):
			pass
		time.sleep(1.0)
		held = metric_sum(p.metrics(), "arcproxy_buffered_bytes")
		s.close()
	finally:
		p.stop()
		rep = p.sanitizer_report()
		p.cleanup()
	check(sent > 1 << 20, "only %d pipelined bytes went out: the test did not press" % sent)
	check(0 < held <= 128 * 1024, "one client pinned %d KiB in arcproxy's buffers with %d KiB of pipelined "
	      "requests behind an unread response" % (held // 1024, sent // 1024))
	check(rep is None, "sanitizer: %s" % rep)
