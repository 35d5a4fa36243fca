"""Bad requests and unreachable destinations.

Expectations (after each one the proxy still serves a normal request):
- Garbage bytes -> 400; an origin-form request to the proxy port -> 400; two different
  Content-Lengths -> 400; Content-Length with chunked -> 400 or chunked wins (no smuggling).
- A bad chunk size in a chunked request body -> an error or a closed connection, never a 200.
- A method the proxy does not know (QUERY, lowercase get) -> 501, nothing forwarded; HTTP/2.0,
  HTTP/3.9 or HTTP/0.9 in a request line -> 505 (RFC 9110 9.1, 6.2).
- RFC 9112 3.2: an HTTP/1.1 request without Host, or with two Host fields -> 400; an HTTP/1.0
  one without Host is served. OPTIONS for an authority without a path reaches the origin as
  "OPTIONS *" (RFC 9112 3.2.4).
- A deny rule -> 403 with Proxy-Status error=http_request_denied.
- SSRF guard: loopback (127.0.0.1, 127.0.0.2, [::1], [::ffff:127.0.0.1], 0.0.0.0), link-local
  and the local API ports (40342, 40344), directly or through a hosts-table name, with no rule
  naming them -> 403 with Proxy-Status error=destination_ip_prohibited, and no connection
  reaches the target; "127.1" and "localhost" do not get through either.
  A "*.suffix:port" rule matches sub-domains on that port, not the bare suffix nor other
  ports; a wildcard direct rule does not lift the SSRF guard.
- A closed port -> 502 with Proxy-Status error=connection_refused.
- A destination that never answers the SYN -> 504 after limits.connect_timeout_ms.
- Clients that vanish mid-body, mid-download or mid-tunnel leave no trace (fds); one that
  leaves while the destination has not answered the SYN cancels the connect (client_abort).
"""

import os
import re
import socket
import subprocess
import time

from harness import (Conn, Proxy, Skip, check, deny, direct, fetch, free_port, healthy,
		     metric_sum, origin, payload, poll, proxy_status_error, standard_env,
		     std_routes, stop_env, test, tmp_root)

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

CONNECT_TIMEOUT_MS = 500


def _blackhole():
	"""A loopback listener whose accept queue is full, so further SYNs are dropped (Linux).

	Returns (port, [sockets to keep open])."""
	lst = socket.socket()
	lst.bind(("127.0.0.1", 0))
	lst.listen(0)
	keep = [lst]
	for _ in range(3):
		s = socket.socket()
		s.setblocking(False)
		s.connect_ex(lst.getsockname())
		keep.append(s)
	time.sleep(0.1)
	return lst.getsockname()[1], keep


def setup():
	o = origin()
	closed = free_port()
	bh_port, bh_keep = _blackhole()
	env = standard_env(
		name="errors",
		hosts=[{"name": n, "address": "127.0.0.1"} for n in (
			"sneaky.test", "suffix.test", "x.suffix.test",
			"blocked.test", "a.blocked.test", "a.b.blocked.test")],
		routes=[deny("*:%d" % o.deny_port),
			direct("127.0.0.1:%d" % closed),
			direct("127.0.0.1:%d" % bh_port),
			direct("*.suffix.test:%d" % o.ssrf_port),
			deny("*.blocked.test:%d" % o.ssrf_port)],
		limits={"connect_timeout_ms": CONNECT_TIMEOUT_MS})
	env.closed_port = closed
	env.bh_port = bh_port
	env.bh_keep = bh_keep
	return env


def teardown(env):
	for s in env.bh_keep:
		s.close()
	return stop_env(env)


def _raw_exchange(env, data, timeout=5):
	"""Send data on a fresh connection; return (first response or None, closed afterwards)."""
	with Conn(env.proxy.port, timeout) as c:
		c.send(data)
		try:
			r = c.read_response()
		except (EOFError, ConnectionResetError):
			return None, True
		return r, c.at_eof(3)


@test
def garbage_400(env):
	r, closed = _raw_exchange(env, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\x00\xff\r\n\r\n")
	check(r is not None and r.status == 400, "garbage bytes: wanted 400, got %r" % r)
	check(closed, "connection left open after a 400 for garbage")
	healthy(env.proxy, "after garbage bytes")


@test
def non_ascii_target_400(env):
	"""A request target is ASCII (RFC 9112 3.2): raw UTF-8 or Latin-1 bytes get 400 and reach neither
	the origin nor the access log."""
	o = env.origin
	with o._lock:
		echoes = len(o.echo_log)
	for target in (b"/caf\xc3\xa9", b"/x\xff"):
		r, closed = _raw_exchange(env, b"GET http://127.0.0.1:%d/echo%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
					 % (o.http_port, target, o.http_port))
		check(r is not None and r.status == 400, "target %r: wanted 400, got %r" % (target, r))
		check(closed, "target %r: connection left open after the 400" % target)
	with o._lock:
		check(len(o.echo_log) == echoes, "the origin saw a non-ASCII target")
	raw = open(env.proxy.access_log_path(), "rb").read()
	check(not any(b >= 0x80 for b in raw), "the access log holds bytes past ASCII")
	healthy(env.proxy, "after non-ASCII targets")


@test
def origin_form_400(env):
	r, _ = _raw_exchange(env, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % env.proxy.port)
	check(r is not None and r.status == 400, "origin-form request to the proxy: wanted 400, got %r" % r)
	healthy(env.proxy, "after an origin-form request")


@test
def unknown_method_501_other_version_505(env):
	url = "http://127.0.0.1:%d/echo" % env.origin.http_port
	host = "Host: 127.0.0.1:%d\r\n" % env.origin.http_port
	with env.origin._lock:
		echoes = len(env.origin.echo_log)
	reasons = {501: "Not Implemented", 505: "HTTP Version Not Supported"}
	for line, want in (("QUERY %s HTTP/1.1" % url, 501), ("get %s HTTP/1.1" % url, 501),
			   ("GET %s HTTP/2.0" % url, 505), ("GET %s HTTP/3.9" % url, 505),
			   ("GET %s HTTP/0.9" % url, 505)):
		r, closed = _raw_exchange(env, ("%s\r\n%sContent-Length: 0\r\n\r\n" % (line, host)).encode())
		check(r is not None and r.status == want and r.reason == reasons[want],
		      "%r: wanted %d %s, got %r" % (line, want, reasons[want], r))
		check(closed, "%r: connection left open after a %d" % (line, want))
		# The proxy's own answer carries a Date (RFC 9110 6.6.1).
		check(re.match(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$",
			       r.header("date") or ""), "%r: the %d has no Date: %r" % (line, want, r.headers))
	with env.origin._lock:
		check(len(env.origin.echo_log) == echoes, "a refused request reached the origin")
	healthy(env.proxy, "after unknown methods and versions")


@test
def host_field_rules(env):
	url = "http://127.0.0.1:%d/echo" % env.origin.http_port
	host = "Host: 127.0.0.1:%d\r\n" % env.origin.http_port
	for what, req in (("no Host", "GET %s HTTP/1.1\r\n\r\n" % url),
			  ("two Hosts", "GET %s HTTP/1.1\r\n%s%s\r\n" % (url, host, host))):
		r, closed = _raw_exchange(env, req.encode())
		check(r is not None and r.status == 400, "HTTP/1.1 request with %s: wanted 400, got %r" % (what, r))
	r, _ = _raw_exchange(env, ("GET %s HTTP/1.0\r\n\r\n" % url).encode())
	check(r is not None and r.status == 200, "HTTP/1.0 request without Host: wanted 200, got %r" % r)
	# Via names the protocol the request came in (RFC 9110 7.6.3).
	via = [v for k, v in r.json()["headers"] if k.lower() == "via"]
	check(via == ["1.0 arcproxy"], "an HTTP/1.0 request reached the origin with Via %r" % via)
	r = fetch(env.proxy.port, "OPTIONS", "http://127.0.0.1:%d" % env.origin.http_port)
	check(r.status == 200 and r.body == b"*\n", "OPTIONS of an authority: the origin did not get "
	      "\"OPTIONS *\": %r" % r)
	healthy(env.proxy, "after the Host checks")


@test
def bad_chunk_size(env):
	url = "http://127.0.0.1:%d/echo" % env.origin.http_port
	req = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nTransfer-Encoding: chunked\r\n\r\n"
	       b"zz\r\nhello\r\n0\r\n\r\n" % (url.encode(), env.origin.http_port))
	r, closed = _raw_exchange(env, req)
	check(r is None or r.status >= 400, "a bad chunk size was answered %r" % r)
	check(closed, "connection left open after a broken chunked body")
	healthy(env.proxy, "after a bad chunk size")


@test
def conflicting_content_length_400(env):
	url = "http://127.0.0.1:%d/echo" % env.origin.http_port
	req = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
	       b"hello!" % (url.encode(), env.origin.http_port))
	r, _ = _raw_exchange(env, req)
	check(r is not None and r.status == 400, "two different Content-Lengths: wanted 400, got %r" % r)
	healthy(env.proxy, "after conflicting Content-Lengths")


@test
def content_length_and_chunked(env):
	"""Both framings in one request: 400, or chunked wins and the origin never sees both."""
	url = "http://127.0.0.1:%d/echo" % env.origin.http_port
	req = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 3\r\n"
	       b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % (url.encode(), env.origin.http_port))
	r, _ = _raw_exchange(env, req)
	check(r is not None, "no response to a request with Content-Length and chunked")
	if r.status != 400:
		check(r.status == 200, "status %d" % r.status)
		j = r.json()
		names = {k.lower() for k, _ in j["headers"]}
		check(not {"content-length", "transfer-encoding"} <= names,
		      "the origin got both Content-Length and Transfer-Encoding: request smuggling")
		check(j["body_length"] == 5, "the origin read %d body bytes, the chunked body has 5" % j["body_length"])
	healthy(env.proxy, "after Content-Length with chunked")


def _connect(env, authority):
	with Conn(env.proxy.port) as c:
		return c.connect_tunnel(authority)


@test
def client_leaving_cancels_connect(env):
	"""A client that leaves while the destination has not answered the SYN cancels the open:
	logged as client_abort at once, not as a connect timeout later."""
	with Conn(env.proxy.port) as c:
		c.send(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n\r\n" % env.bh_port)
		time.sleep(0.1)
	lines = poll(lambda: [ln for ln in env.proxy.access_log_lines()
			      if "127.0.0.1:%d " % env.bh_port in ln and "CONNECT" in ln], timeout=3)
	check(lines, "no access-log line for the abandoned CONNECT")
	check("client_abort" in lines[-1], "the abandoned CONNECT was logged as %r" % lines[-1])
	healthy(env.proxy, "after a client left during a connect")


FAILBEV_C = r"""
/* failbev.c -- test shim: every other bufferevent_socket_new() on an open socket fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

struct bufferevent;
struct event_base;

struct bufferevent *
bufferevent_socket_new(struct event_base *base, int fd, int options)
{
	static struct bufferevent *(*real)(struct event_base *, int, int);
	static int calls;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bufferevent_socket_new");
	if (fd >= 0 && calls++ % 2 == 0)
		return NULL;
	return real(base, fd, options);
}
"""


@test
def half_built_connection(env):
	"""When building a connection fails half-way (here: no bufferevent for every other
	accepted socket, through an LD_PRELOAD shim), the socket is closed, nothing is counted,
	and the proxy keeps serving."""
	d = os.path.join(tmp_root(), "failbev")
	os.makedirs(d, exist_ok=True)
	os.chmod(d, 0o755)
	src, lib = os.path.join(d, "failbev.c"), os.path.join(d, "failbev.so")
	with open(src, "w") as f:
		f.write(FAILBEV_C)
	try:	# clang-14: listed in tests/tools.txt (fuzzing) and installed with the build tools
		cc = subprocess.run(["clang-14", "-shared", "-fPIC", "-O1", "-o", lib, src, "-ldl"],
				    capture_output=True, text=True, timeout=60)
	except FileNotFoundError:
		raise Skip("no clang to build the shim")
	if cc.returncode != 0:
		raise Skip("cannot build the shim: %s" % cc.stderr.strip())
	os.chmod(lib, 0o755)
	o = env.origin
	p = Proxy(routes=std_routes(o), name="failbev")
	saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "ASAN_OPTIONS")}
	os.environ["LD_PRELOAD"] = lib
	# A sanitizer build wants its runtime first; the shim only wraps one call.
	os.environ["ASAN_OPTIONS"] = ":".join(x for x in (saved["ASAN_OPTIONS"],
							  "verify_asan_link_order=0") if x)
	try:
		p.start()
	finally:
		for k, v in saved.items():
			if v is None:
				os.environ.pop(k, None)
			else:
				os.environ[k] = v
	env.extra.append(p)
	ok = refused = 0
	for i in range(6):
		with Conn(p.port, timeout=5) as c:
			try:
				c.request("GET", "http://127.0.0.1:%d/bytes/100" % o.http_port)
				r = c.read_response()
				ok += r.status == 200 and r.body == payload(100)
			except (EOFError, ConnectionResetError, BrokenPipeError):
				refused += 1
		check(p.alive(), "arcproxy died after a half-built connection (exit %s)\n%s"
		      % (p.proc.returncode, p.stderr_tail()))
	check(ok >= 2 and refused >= 2, "%d served, %d closed at once: the shim did not act" % (ok, refused))
	check(p.log_has(r"out of memory for a new connection"), "no warning for the failed connection")
	m = p.metrics()
	check(metric_sum(m, "arcproxy_connections_open") <= 1,
	      "connections_open %r after failed connections" % metric_sum(m, "arcproxy_connections_open"))


@test
def deny_rule_403(env):
	before = env.origin.deny.accepted
	r = _connect(env, "127.0.0.1:%d" % env.origin.deny_port)
	check(r.status == 403, "CONNECT to a denied port: wanted 403, got %d" % r.status)
	check(proxy_status_error(r) == "http_request_denied",
	      "Proxy-Status %r, wanted error=http_request_denied" % r.header("proxy-status"))
	r = fetch(env.proxy.port, "GET", "http://127.0.0.1:%d/" % env.origin.deny_port)
	check(r.status == 403, "GET to a denied port: wanted 403, got %d" % r.status)
	check(env.origin.deny.accepted == before, "the denied destination was connected to")
	healthy(env.proxy, "after a denied request")


@test
def ssrf_loopback_403(env):
	before = env.origin.ssrf.accepted
	for target in ("127.0.0.1:%d" % env.origin.ssrf_port, "sneaky.test:%d" % env.origin.ssrf_port,
		       "suffix.test:%d" % env.origin.ssrf_port):
		r = _connect(env, target)
		check(r.status == 403, "CONNECT %s (loopback, no rule names it): wanted 403, got %d"
		      % (target, r.status))
		check(proxy_status_error(r) == "destination_ip_prohibited",
		      "CONNECT %s: Proxy-Status %r, wanted error=destination_ip_prohibited"
		      % (target, r.header("proxy-status")))
	for target in ("[::ffff:127.0.0.1]:%d" % env.origin.ssrf_port, "0.0.0.0:%d" % env.origin.ssrf_port,
		       "127.0.0.2:%d" % env.origin.ssrf_port):
		r = _connect(env, target)
		check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
		      "CONNECT %s: wanted 403 destination_ip_prohibited, got %d %r"
		      % (target, r.status, r.header("proxy-status")))
	for target in ("127.1:%d" % env.origin.ssrf_port, "localhost:%d" % env.origin.ssrf_port):
		r = _connect(env, target)	# may not resolve at all; it must not get through
		check(not 200 <= r.status < 300, "CONNECT %s got through: %d" % (target, r.status))
	r = fetch(env.proxy.port, "GET", "http://sneaky.test:%d/" % env.origin.ssrf_port)
	check(r.status == 403, "GET http://sneaky.test (-> 127.0.0.1): wanted 403, got %d" % r.status)
	check(env.origin.ssrf.accepted == before, "a loopback destination with no rule was connected to")
	healthy(env.proxy, "after SSRF attempts")


@test
def suffix_patterns(env):
	"""'*.blocked.test:PORT' (deny) matches sub-domains on that port only, not the bare suffix;
	the Proxy-Status error tells which check refused. A wildcard direct rule does not lift the
	SSRF guard (only a rule naming the host does, says conf/arcproxy.conf)."""
	port = env.origin.ssrf_port
	before = env.origin.ssrf.accepted
	for target, want in (("a.blocked.test:%d" % port, "http_request_denied"),
			     ("a.b.blocked.test:%d" % port, "http_request_denied"),
			     ("blocked.test:%d" % port, "destination_ip_prohibited"),
			     ("a.blocked.test:40342", "destination_ip_prohibited"),
			     ("x.suffix.test:%d" % port, "destination_ip_prohibited")):
		r = _connect(env, target)
		check(r.status == 403, "CONNECT %s: wanted 403, got %d" % (target, r.status))
		check(proxy_status_error(r) == want, "CONNECT %s: Proxy-Status %r, wanted error=%s"
		      % (target, r.header("proxy-status"), want))
	check(env.origin.ssrf.accepted == before, "a refused destination was connected to")


@test
def ssrf_local_apis_403(env):
	for target in ("127.0.0.1:40342", "[::1]:40342", "127.0.0.1:40344", "169.254.169.254:80"):
		r = _connect(env, target)
		check(r.status == 403, "CONNECT %s: wanted 403, got %d" % (target, r.status))
		check(proxy_status_error(r) == "destination_ip_prohibited",
		      "CONNECT %s: Proxy-Status %r" % (target, r.header("proxy-status")))
	r = fetch(env.proxy.port, "GET", "http://127.0.0.1:40342/metadata/instance", [("Metadata", "true")])
	check(r.status == 403, "GET himds through the proxy: wanted 403, got %d" % r.status)
	healthy(env.proxy, "after SSRF attempts")


@test
def closed_port_502(env):
	target = "127.0.0.1:%d" % env.closed_port
	r = _connect(env, target)
	check(r.status == 502, "CONNECT to a closed port: wanted 502, got %d" % r.status)
	check(proxy_status_error(r) == "connection_refused",
	      "Proxy-Status %r, wanted error=connection_refused" % r.header("proxy-status"))
	r = fetch(env.proxy.port, "GET", "http://%s/x" % target)
	check(r.status == 502, "GET to a closed port: wanted 502, got %d" % r.status)
	check(proxy_status_error(r) == "connection_refused", "GET: Proxy-Status %r" % r.header("proxy-status"))
	healthy(env.proxy, "after a refused connect")


@test
def connect_timeout_504(env):
	probe = socket.socket()
	probe.settimeout(0.5)
	try:
		probe.connect(("127.0.0.1", env.bh_port))
		raise Skip("the full-backlog listener accepted a SYN here: no reliable black hole")
	except socket.timeout:
		pass
	except OSError as e:
		raise Skip("black hole probe: %r" % e)
	finally:
		probe.close()
	t0 = time.monotonic()
	with Conn(env.proxy.port, timeout=10) as c:
		r = c.connect_tunnel("127.0.0.1:%d" % env.bh_port)
	dt = time.monotonic() - t0
	check(r.status == 504, "CONNECT to a silent destination: wanted 504, got %d" % r.status)
	check(CONNECT_TIMEOUT_MS / 1000 * 0.8 <= dt <= CONNECT_TIMEOUT_MS / 1000 + 3,
	      "504 after %.2fs, connect_timeout_ms is %d" % (dt, CONNECT_TIMEOUT_MS))
	healthy(env.proxy, "after a connect timeout")


def _abort(c):
	"""Close with RST, as a crashed client would."""
	c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
	c.close()


@test
def client_vanishes(env):
	url = "http://127.0.0.1:%d" % env.origin.http_port
	for rst in (False, True):
		c = Conn(env.proxy.port)
		c.request("POST", url + "/echo", [("Content-Length", str(10 << 20))])
		c.send(payload(1 << 20))
		_abort(c) if rst else c.close()
		c = Conn(env.proxy.port)
		c.request("GET", url + "/bytes/%d" % (16 << 20))
		c.read_exact(65536)
		_abort(c) if rst else c.close()
		c = Conn(env.proxy.port)
		check(c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port).status == 200, "CONNECT failed")
		c.send(payload(100000))
		_abort(c) if rst else c.close()
		c = Conn(env.proxy.port)
		c.send(b"GET http://127.0.0.1:%d/bytes/1 HTTP/1.1\r\nHost: 12" % env.origin.http_port)
		_abort(c) if rst else c.close()
	time.sleep(0.3)
	healthy(env.proxy, "after clients vanished mid-body, mid-download and mid-tunnel")
	env.assert_no_fd_leak()


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
