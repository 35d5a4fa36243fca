"""himds under a flood of idle local connections that uses up its descriptors.

Expectations:
- When accept(2) runs out of descriptors (any local user can hold the connections), himds pauses
  accepting instead of spinning: it uses little CPU, says so in a few log lines (not one per
  attempt), and once the connections go it answers again, the token challenge too.
- A request line in absolute form (GET http://evil.example/...) names the host asked for: refused
  as a Host of evil.example would be, whatever the Host header says.
- A token request whose resource holds a control character (a newline that would forge a log
  line, a NUL) or is not UTF-8 (it goes to the cloud in JSON) is refused with 400 naming
  resource, before any challenge.
- A request trickled in a header line at a time is cut off 10 s after the connection (evhttp's
  own timeout restarts at every byte); requests on a kept-alive connection are still answered.
- SIGTERM while a token request waits for a cloud that does not answer: the client gets 503
  shutting_down (it got no answer at all), and himds exits 0.
"""

import http.client
import os
import signal
import socket
import threading
import time

import fixtures
from fixtures import (INSTANCE, MD, TOKEN, api, new_himds, put_local_identity, read_key,
		      realm_path)
from harness import check, poll, test

NOFILE = 64		# himds's descriptor limit in this test


def setup():
	return fixtures.himds_env()


def teardown(env):
	return fixtures.stop_himds_env(env)


class NofileHimds(fixtures.Himds):
	"""himds under prlimit: NOFILE descriptors at most (prlimit execs it: the same pid)."""

	def command(self, *args):
		return ["prlimit", "--nofile=%d" % NOFILE, "--"] + super().command(*args)


def cpu_ticks(pid):
	st = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
	return int(st[11]) + int(st[12])


@test(timeout=40)
def out_of_descriptors_pauses_accepting(env):
	h = NofileHimds("himds-nofile")
	env.himdses.append(h)
	put_local_identity(env.sim, h.state_dir)
	h.start()
	socks = []
	try:
		for _ in range(NOFILE * 2):
			s = socket.socket()
			s.settimeout(2)
			s.connect(("127.0.0.1", h.port))	# the backlog takes what himds cannot
			socks.append(s)
		fds = lambda: len(os.listdir("/proc/%d/fd" % h.proc.pid))
		check(poll(lambda: fds() >= NOFILE - 1, timeout=5), "himds holds %d descriptors of %d"
		      % (fds(), NOFILE))
		lines0 = len(h.stderr_text().splitlines())
		t0, c0 = time.monotonic(), cpu_ticks(h.proc.pid)
		time.sleep(2)
		used = (cpu_ticks(h.proc.pid) - c0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
		grew = len(h.stderr_text().splitlines()) - lines0
		check(used < 0.3, "out of descriptors, himds spins: %.0f%% of a CPU" % (used * 100))
		check(grew <= 5, "out of descriptors, himds logged %d lines in 2 s:\n%s" % (grew, h.stderr_tail(5)))
		check(h.proc.poll() is None, "himds exited %s" % h.proc.returncode)
	finally:
		for s in socks:
			s.close()
	status = poll(lambda: (lambda r: r if r[0] == 200 else None)(api(h, INSTANCE, MD)), timeout=15,
		      interval=0.5)
	check(status, "after the flood, /metadata/instance: %r" % (api(h, INSTANCE, MD),))
	status, hdrs, _ = api(h, TOKEN, MD)
	check(status == 401 and "www-authenticate" in hdrs, "after the flood, a token request: %d %r" % (status, hdrs))
	check(h.stop() == 0, "himds exited %s on SIGTERM" % h.proc.returncode)


@test
def absolute_form_names_the_host(env):
	"""In absolute form the request line's authority is the host asked for (RFC 9112 3.2.2):
	http://evil.example/... is refused like Host: evil.example, http://localhost:PORT/... served."""
	h = env.plain if getattr(env, "plain", None) else None
	if h is None:
		h = env.plain = new_himds(env, "himds-plain")
		put_local_identity(env.sim, h.state_dir)
		h.start()

	def raw(target):
		s = socket.create_connection(("127.0.0.1", h.port), timeout=5)
		try:
			s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nMetadata: true\r\nConnection: close\r\n\r\n"
				  % target.encode())
			out = b""
			while True:
				d = s.recv(65536)
				if not d:
					return out
				out += d
		finally:
			s.close()
	for target in ("http://evil.example" + INSTANCE, "http://evil.example:%d%s" % (h.port, INSTANCE)):
		out = raw(target)
		check(out.startswith(b"HTTP/1.1 400 ") and b"Host must be" in out,
		      "GET %s with Host: localhost: %r" % (target, out[:200]))
	for target in ("http://localhost:%d%s" % (h.port, INSTANCE), "http://[::1]:%d%s" % (h.port, INSTANCE),
		       "http://127.0.0.1" + INSTANCE):
		out = raw(target)
		check(out.startswith(b"HTTP/1.1 200 "), "GET %s: %r" % (target, out[:200]))


@test
def resource_with_control_characters_refused(env):
	"""resource= is logged with the token it asks for: a newline in it (%0a) would forge log lines."""
	h = env.plain if getattr(env, "plain", None) else None
	if h is None:
		h = env.plain = new_himds(env, "himds-plain")
		put_local_identity(env.sim, h.state_dir)
		h.start()
	for bad in ("https%3A%2F%2Fvault.azure.net%0a2026-01-01T00%3A00%3A00.000Z%20himds%20info%20forged",
		    "x%00y", "x%1by", "x%7fy", "%ff%fe", "%c3%28", "a%e2%82"):
		status, hdrs, doc = api(h, "/metadata/identity/oauth2/token?api-version=2020-06-01&resource=" + bad, MD)
		check(status == 400 and "www-authenticate" not in hdrs and "resource" in doc.get("error_description", ""),
		      "resource=%s: %d %r" % (bad, status, doc))
	status, hdrs, _ = api(h, TOKEN, MD)
	check(status == 401 and "www-authenticate" in hdrs, "a good resource: %d" % status)


@test(timeout=40)
def slow_request_is_cut_off(env):
	"""evhttp's 10 s timeout restarts at every byte: a client that trickles a header line every
	few seconds held its connection (and descriptor) for hours.  A request must be whole within
	10 s of the connection (or of the last answer on it)."""
	h = env.plain if getattr(env, "plain", None) else None
	if h is None:
		h = env.plain = new_himds(env, "himds-plain")
		put_local_identity(env.sim, h.state_dir)
		h.start()
	s = socket.create_connection(("127.0.0.1", h.port), timeout=1)
	closed = None
	try:
		s.sendall(b"GET /metadata/instance?api-version=2020-06-01 HTTP/1.1\r\n")
		t0 = time.monotonic()
		while time.monotonic() - t0 < 20:
			try:
				s.sendall(b"X-Slow: y\r\n")
				d = s.recv(4096)
				if not d:
					closed = time.monotonic() - t0
					break
			except socket.timeout:
				continue		# a line a second, about
			except OSError:
				closed = time.monotonic() - t0
				break
	finally:
		s.close()
	check(closed is not None and closed < 14, "a request trickled a line a second was still open after %s s"
	      % ("%.0f" % closed if closed else "20"))
	# A normal client on a kept-alive connection: two requests, both answered.
	c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=5)
	try:
		for _ in range(2):
			c.request("GET", INSTANCE, headers=MD)
			r = c.getresponse()
			r.read()
			check(r.status == 200, "kept-alive request: %d" % r.status)
	finally:
		c.close()
	check(h.proc.poll() is None, "himds exited %s" % h.proc.returncode)


@test(timeout=40)
def sigterm_answers_waiting_token_requests(env):
	# The "proxy": it takes the connection and never answers, a cloud that hangs.
	stall = socket.socket()
	stall.bind(("127.0.0.1", 0))
	stall.listen(8)
	held = []

	def take():
		while True:
			try:
				held.append(stall.accept()[0])
			except OSError:
				return

	threading.Thread(target=take, daemon=True).start()
	try:
		h = new_himds(env, "himds-stall", proxy="http://127.0.0.1:%d" % stall.getsockname()[1])
		put_local_identity(env.sim, h.state_dir)
		h.start()
		status, hdrs, _ = api(h, TOKEN, MD)
		check(status == 401, "the challenge: %d" % status)
		key = read_key(realm_path(hdrs.get("www-authenticate")))
		got = {}

		def ask():
			try:
				got["answer"] = api(h, TOKEN, dict(MD, Authorization="Basic " + key))
			except (OSError, http.client.HTTPException) as e:
				got["error"] = repr(e)

		t = threading.Thread(target=ask)
		t.start()
		check(poll(lambda: held, timeout=5), "the token request did not reach the cloud")
		time.sleep(0.3)
		h.stopped = True	# by this test: its exit is checked here
		h.proc.send_signal(signal.SIGTERM)
		t.join(10)
		check("answer" in got and got["answer"][0] == 503 and
		      got["answer"][2].get("error") == "shutting_down",
		      "a token request waiting at SIGTERM got %r" % got)
		check(h.proc.wait(10) == 0, "himds exited %s" % h.proc.returncode)
	finally:
		stall.close()
		for s in held:
			s.close()
