"""Absolute-form HTTP/1.1 forwarding.

Expectations:
- GET of 64 MiB, and POST uploads of 64 MiB with Content-Length and chunked, keep their SHA-256.
- Chunked downloads, HEAD, 204 and 304 (no body) and close-delimited bodies are framed right:
  the next response on the same connection parses.
- Expect: 100-continue gets an interim 100 before the client sends the body.
- Keep-alive on both sides: two requests on one client connection; two client connections in
  turn reuse one pooled upstream connection (/conn-id is the same).
- A client that half-closes after a GET still gets the (slow) response, then the close, and
  the proxy does not spin meanwhile.
- Three pipelined requests in one write get three responses in order, also when POST bodies
  (Content-Length and chunked) sit between them; 40 concurrent clients all get their bytes.
- A pooled upstream connection that the origin closed does not fail the next request.
- A request that a pooled connection dropped unanswered is sent again on a fresh one only
  when its method is idempotent (GET: twice at the origin; POST and PATCH: once, and the client
  gets 502) and the client has seen no interim answer (after a 100 Continue: once, 502).
- The origin sees the absolute-form target's authority as Host (or the proxy refuses).
- Hop-by-hop headers (Connection and what it names, Proxy-Connection, Keep-Alive, TE, Trailer,
  Proxy-Authorization) do not reach the origin; end-to-end headers do; Host is right; the origin
  sees origin-form (path and query only); the client's Connection: close closes its connection.
- Max-Forwards (RFC 9110 7.6.2): an OPTIONS or TRACE with 0 is answered by the proxy (OPTIONS: 200
  with Allow; TRACE: the request as message/http, less Authorization and Cookie) and never
  reaches the origin; with N it reaches the origin with N-1; a GET's goes on unchanged; one that
  is not digits gets 400.
- A WebSocket upgrade through an absolute-form GET switches protocols and echoes frames.
- Python urllib with a ProxyHandler works; hosts-table names with "host:port" rules route
  (suffix patterns: test_errors.py; a rule without a port does not lift the SSRF guard for a
  name that resolves to loopback: test_ssrf.py).
- The proxy holds no more fds at the end than at the start.
"""

import json
import os
import threading
import time
import urllib.request

from harness import (Conn, check, curl, direct, fetch, healthy, origin, payload, sha, sha_of,
		     standard_env, stop_env, test, tmp_root)
import origin as origin_mod

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

BIG = 64 << 20


def setup():
	o = origin()
	return standard_env(name="forward",
			    hosts=[{"name": "origin.test", "address": "127.0.0.1"},
				   {"name": "api.origin.test", "address": "127.0.0.1"}],
			    routes=[direct("origin.test:%d" % o.http_port),
				    direct("api.origin.test:%d" % o.http_port)])


def teardown(env):
	return stop_env(env)


def _url(env, path, host="127.0.0.1"):
	return "http://%s:%d%s" % (host, env.origin.http_port, path)


def _proxy(env):
	return "http://127.0.0.1:%d" % env.proxy.port


def _bigfile():
	path = os.path.join(tmp_root(), "upload-64mib.bin")
	if not os.path.exists(path):
		with open(path + ".tmp", "wb") as f:
			f.write(payload(BIG))
		os.rename(path + ".tmp", path)
	return path


def _echo_json(p):
	check(p.returncode == 0, "curl exit %d: %s" % (p.returncode, p.stderr.decode().strip()))
	try:
		return json.loads(p.stdout)
	except ValueError:
		raise AssertionError("not an echo reply: %r" % p.stdout[:200])


@test(timeout=120)
def get_64mib_sha(env):
	p = curl("-x", _proxy(env), _url(env, "/bytes/%d" % BIG), timeout=110, check_rc=True)
	check(len(p.stdout) == BIG, "got %d of %d bytes" % (len(p.stdout), BIG))
	check(sha_of(p.stdout) == sha(BIG), "SHA-256 of the 64 MiB body differs")


@test(timeout=120)
def post_64mib_content_length(env):
	j = _echo_json(curl("-x", _proxy(env), "-H", "Content-Type: application/octet-stream",
			    "--data-binary", "@" + _bigfile(), _url(env, "/echo"), timeout=110))
	check(j["method"] == "POST", "method %r" % j["method"])
	check(j["body_length"] == BIG, "origin got %d of %d bytes" % (j["body_length"], BIG))
	check(j["body_sha256"] == sha(BIG), "SHA-256 of the uploaded body differs")


@test(timeout=120)
def post_64mib_chunked(env):
	j = _echo_json(curl("-x", _proxy(env), "-H", "Transfer-Encoding: chunked",
			    "-H", "Content-Type: application/octet-stream",
			    "--data-binary", "@" + _bigfile(), _url(env, "/echo"), timeout=110))
	check(j["body_length"] == BIG, "origin got %d of %d bytes" % (j["body_length"], BIG))
	check(j["body_sha256"] == sha(BIG), "SHA-256 of the chunked upload differs")


@test
def chunked_upload_raw(env):
	"""A chunked request body written by hand, with a chunk extension and a trailer."""
	data = payload(70000)
	body = b"".join([b"10000;ext=1\r\n", data[:65536], b"\r\n",
			 b"%x\r\n" % (len(data) - 65536), data[65536:], b"\r\n",
			 b"0\r\nX-Trailer: t\r\n\r\n"])
	with Conn(env.proxy.port) as c:
		c.request("POST", _url(env, "/echo"), [("Transfer-Encoding", "chunked")], body)
		r = c.read_response()
		check(r.status == 200, "status %d" % r.status)
		j = r.json()
		check((j["body_length"], j["body_sha256"]) == (len(data), sha_of(data)),
		      "origin got %d bytes, wanted %d" % (j["body_length"], len(data)))
		c.request("GET", _url(env, "/bytes/10"))
		check(c.read_response().body == payload(10), "next request on the connection failed")


@test
def chunked_download(env):
	n = 1000003
	body = curl("-x", _proxy(env), _url(env, "/chunked/%d" % n), timeout=20, check_rc=True).stdout
	check(body == payload(n), "curl: chunked body differs (%d bytes)" % len(body))
	with Conn(env.proxy.port) as c:
		c.request("GET", _url(env, "/chunked/%d" % n))
		r = c.read_response()
		check(r.status == 200 and r.body == payload(n), "raw: chunked body differs %r" % r)
		c.request("GET", _url(env, "/bytes/10"))
		check(c.read_response().body == payload(10), "response after a chunked one did not parse")


@test
def head_has_no_body(env):
	with Conn(env.proxy.port) as c:
		c.request("HEAD", _url(env, "/bytes/1000"))
		r = c.read_response("HEAD")
		check(r.status == 200, "HEAD status %d" % r.status)
		check(r.header("content-length") in (None, "1000"),
		      "HEAD Content-Length %r, origin said 1000" % r.header("content-length"))
		c.request("HEAD", _url(env, "/chunked/5000"))
		r = c.read_response("HEAD")
		check(r.status == 200, "HEAD (chunked) status %d" % r.status)
		c.request("GET", _url(env, "/bytes/10"))
		r = c.read_response()
		check(r.status == 200 and r.body == payload(10),
		      "the response after HEAD did not parse: body bytes leaked after HEAD? %r" % r)


@test
def no_body_204_304_pipelined(env):
	with Conn(env.proxy.port) as c:
		c.send("".join("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (_url(env, p), env.origin.http_port)
			       for p in ("/status/204", "/status/304", "/status/304?cl=1000", "/bytes/50")))
		rs = [c.read_response() for _ in range(4)]
		check([r.status for r in rs] == [204, 304, 304, 200], "statuses %s" % [r.status for r in rs])
		check(rs[3].body == payload(50), "the response after 204/304 is garbled")


@test
def expect_100_continue(env):
	data = payload(100000)
	with Conn(env.proxy.port) as c:
		c.request("POST", _url(env, "/echo"), [("Content-Length", str(len(data))),
						       ("Expect", "100-continue")])
		status, _, _, head = c.read_head()
		check(status == 100, "wanted an interim 100 before sending the body, got %r" % head[:80])
		c.send(data)
		r = c.read_response()
		check(r.status == 200, "final status %d" % r.status)
		j = r.json()
		check((j["body_length"], j["body_sha256"]) == (len(data), sha_of(data)),
		      "origin got %d bytes" % j["body_length"])


@test
def close_delimited_body(env):
	n = 1 << 20
	body = curl("-x", _proxy(env), _url(env, "/close/%d" % n), timeout=20, check_rc=True).stdout
	check(body == payload(n), "curl: close-delimited body differs (%d bytes)" % len(body))
	r = fetch(env.proxy.port, "GET", _url(env, "/close/%d" % n))
	check(r.status == 200 and r.body == payload(n), "raw: body differs %r" % r)


@test
def http10_client(env):
	"""An HTTP/1.0 client gets a body it can frame (never chunked) and the connection closes."""
	for path in ("/bytes/5000", "/chunked/5000"):
		with Conn(env.proxy.port) as c:
			c.send("GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n" % (_url(env, path), env.origin.http_port))
			status, _, headers, head = c.read_head()
			h = {k.lower(): v for k, v in headers}
			check(status == 200, "%s: status %d" % (path, status))
			check("chunked" not in h.get("transfer-encoding", "").lower(),
			      "%s: chunked response sent to an HTTP/1.0 client" % path)
			if "content-length" in h:
				body = c.read_exact(int(h["content-length"]))
				check(c.at_eof(3), "%s: HTTP/1.0 connection without keep-alive left open" % path)
			else:
				body = c.read_to_eof()
			check(body == payload(5000), "%s: body differs (%d bytes)" % (path, len(body)))


@test
def client_keepalive(env):
	with Conn(env.proxy.port) as c:
		c.request("GET", _url(env, "/bytes/100"))
		r1 = c.read_response()
		c.request("GET", _url(env, "/echo?second=1"))
		r2 = c.read_response()
		check(r1.status == 200 and r1.body == payload(100), "first response %r" % r1)
		check(r2.status == 200 and r2.json()["path"] == "/echo?second=1", "second response %r" % r2)


def _cpu_seconds(pid):
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@test
def client_half_close_during_a_slow_response(env):
	# The client's socket is watched by the conn's own read event through an
	# exchange without a request body: its EOF must stop that watch (no busy
	# loop on a readable EOF), and the response still arrives, then the close.
	pid = env.proxy.proc.pid
	with Conn(env.proxy.port, timeout=5) as c:
		c.request("GET", _url(env, "/echo?delay_ms=800&halfclose=1"))
		c.shutdown_wr()
		cpu0 = _cpu_seconds(pid)
		r = c.read_response()
		cpu = _cpu_seconds(pid) - cpu0
		check(r.status == 200 and r.json()["path"].startswith("/echo?delay_ms=800"),
		      "the response after the client's half-close: %r" % r)
		check(c.at_eof(3), "connection left open after answering a half-closed client")
	check(cpu < 0.4, "arcproxy spent %.2f CPU s while a half-closed client waited 0.8 s" % cpu)


@test
def upstream_pool_reuse(env):
	ids = []
	for _ in range(2):
		with Conn(env.proxy.port) as c:
			c.request("GET", _url(env, "/conn-id"))
			r = c.read_response()
			check(r.status == 200, "status %d" % r.status)
			ids.append(int(r.body))
		time.sleep(0.2)
	check(ids[0] == ids[1], "two client connections in turn used two upstream connections %s:"
	      " the idle upstream connection was not pooled" % ids)


@test
def pipelining_three(env):
	paths = ["/echo?seq=1", "/bytes/777", "/echo?seq=3"]
	with Conn(env.proxy.port) as c:
		c.send("".join("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (_url(env, p), env.origin.http_port)
			       for p in paths))
		rs = [c.read_response() for _ in paths]
	check([r.status for r in rs] == [200, 200, 200], "statuses %s" % [r.status for r in rs])
	check(rs[0].json()["path"] == "/echo?seq=1", "first response is not the first request's")
	check(rs[1].body == payload(777), "second response is not the second request's")
	check(rs[2].json()["path"] == "/echo?seq=3", "third response is not the third request's")


@test
def pipelined_with_bodies(env):
	"""Requests with Content-Length and chunked bodies pipelined with GETs in one write."""
	a, b = payload(3000), payload(5000)
	host = "Host: 127.0.0.1:%d\r\n" % env.origin.http_port
	data = b"".join([
		b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (_url(env, "/echo?n=1").encode(), host.encode(), len(a)), a,
		b"GET %s HTTP/1.1\r\n%s\r\n" % (_url(env, "/bytes/10").encode(), host.encode()),
		b"POST %s HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\n\r\n%x\r\n" % (
			_url(env, "/echo?n=3").encode(), host.encode(), len(b)), b, b"\r\n0\r\n\r\n",
		b"GET %s HTTP/1.1\r\n%s\r\n" % (_url(env, "/echo?n=4").encode(), host.encode()),
	])
	with Conn(env.proxy.port) as c:
		c.send(data)
		rs = [c.read_response() for _ in range(4)]
	check([r.status for r in rs] == [200] * 4, "statuses %s" % [r.status for r in rs])
	j1, j3, j4 = rs[0].json(), rs[2].json(), rs[3].json()
	check((j1["path"], j1["body_sha256"]) == ("/echo?n=1", sha_of(a)), "first POST: %r" % j1["path"])
	check(rs[1].body == payload(10), "the GET between the POSTs got another answer")
	check((j3["path"], j3["body_sha256"]) == ("/echo?n=3", sha_of(b)), "chunked POST: %r" % j3["path"])
	check((j4["path"], j4["body_length"]) == ("/echo?n=4", 0), "last GET: %r" % j4["path"])


@test
def host_from_absolute_target(env):
	"""RFC 9112 3.2.2: the absolute-form target wins over a different Host header."""
	r = fetch(env.proxy.port, "GET", _url(env, "/echo"), [("Host", "evil.example")])
	if r.status == 400:
		return	# refusing the mismatch is fine too
	check(r.status == 200, "status %d" % r.status)
	host = [v for k, v in r.json()["headers"] if k.lower() == "host"]
	check(host == ["127.0.0.1:%d" % env.origin.http_port],
	      "the origin got Host %r for a request to 127.0.0.1:%d" % (host, env.origin.http_port))


@test
def pooled_connection_closed_by_origin(env):
	"""The origin closes an idle pooled connection; the next request still succeeds."""
	for i in range(2):
		r = fetch(env.proxy.port, "GET", _url(env, "/conn-id?close_after_ms=100"))
		check(r.status == 200, "status %d" % r.status)
		time.sleep(0.5)
		r = fetch(env.proxy.port, "GET", _url(env, "/bytes/10"))
		check(r.status == 200 and r.body == payload(10),
		      "request after the origin closed the pooled connection: %r" % r)


@test
def no_retry_of_what_may_not_be_sent_twice(env):
	"""RFC 9110 9.2.2: a proxy sends again only idempotent requests, and only unanswered."""
	o = env.origin

	def dropped(method, label, interim=False):
		# A pooled connection first: the retry is for a connection that died in the pool.
		r = fetch(env.proxy.port, "GET", _url(env, "/conn-id"))
		check(r.status == 200, "warming the pool: status %d" % r.status)
		tag = "tag=%d.%s" % (os.getpid(), label) + ("&interim=1" if interim else "")
		r = fetch(env.proxy.port, method, _url(env, "/drop?" + tag), [("Content-Length", "0")])
		with o._lock:
			seen = [m for m, q, _ in o.drop_log if q == tag]
		return r.status, seen

	status, seen = dropped("GET", "a")
	check(seen == ["GET", "GET"], "a GET the pooled connection dropped: the origin saw %r, "
	      "want it sent once more on a fresh connection" % seen)
	check(status == 502, "GET dropped twice: status %d" % status)
	for method in ("POST", "PATCH"):
		status, seen = dropped(method, method)
		check(seen == [method], "a %s the pooled connection dropped reached the origin %d times: "
		      "a non-idempotent request was sent again" % (method, len(seen)))
		check(status == 502, "%s dropped: status %d, want 502" % (method, status))
	status, seen = dropped("GET", "interim", interim=True)
	check(seen == ["GET"], "a GET answered 100 Continue, then dropped, reached the origin %d times: "
	      "the client had seen an answer" % len(seen))


@test
def max_forwards(env):
	o = env.origin
	with o._lock:
		echoes = len(o.echo_log)
	url = _url(env, "/echo")
	r = fetch(env.proxy.port, "OPTIONS", url, [("Max-Forwards", "0")])
	check(r.status == 200 and "OPTIONS" in (r.header("allow") or ""),
	      "OPTIONS with Max-Forwards 0: want the proxy's 200 with Allow, got %r %r" % (r, r.headers))
	r = fetch(env.proxy.port, "TRACE", url, [("Max-Forwards", "0"), ("X-Trace-Me", "yes"),
						 ("Authorization", "Bearer s3cret"), ("Cookie", "c=s3cret")])
	check(r.status == 200 and r.header("content-type") == "message/http",
	      "TRACE with Max-Forwards 0: want the proxy's 200 message/http, got %r %r" % (r, r.headers))
	check(r.body.startswith(b"TRACE " + url.encode() + b" HTTP/1.1\r\n") and b"X-Trace-Me: yes\r\n" in r.body,
	      "TRACE: the body is not the request: %r" % r.body)
	check(b"s3cret" not in r.body, "TRACE echoed a credential: %r" % r.body)
	with o._lock:
		check(len(o.echo_log) == echoes, "a Max-Forwards 0 request reached the origin")
	for method, sent, want in (("OPTIONS", "5", ["4"]), ("GET", "0", ["0"])):
		r = fetch(env.proxy.port, method, url, [("Max-Forwards", sent)])
		check(r.status == 200, "%s with Max-Forwards %s: status %d" % (method, sent, r.status))
		got = [v for k, v in r.json()["headers"] if k.lower() == "max-forwards"]
		check(got == want, "%s with Max-Forwards %s reached the origin with %r, want %r" % (
			method, sent, got, want))
	r = fetch(env.proxy.port, "OPTIONS", url, [("Max-Forwards", "x1")])
	check(r.status == 400, "OPTIONS with Max-Forwards x1: status %d, want 400" % r.status)
	healthy(env.proxy, "after the Max-Forwards requests")


@test(timeout=60)
def concurrent_clients(env):
	results = []

	def client(i):
		try:
			with Conn(env.proxy.port, timeout=20) as c:
				for k in range(3):
					n = 1000 * i + k
					c.request("GET", _url(env, "/bytes/%d" % n))
					r = c.read_response()
					if r.status != 200 or r.body != payload(n):
						results.append("client %d request %d: %r" % (i, k, r))
						return
			results.append(True)
		except (OSError, EOFError, AssertionError) as e:
			results.append("client %d: %r" % (i, e))
	ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(1, 41)]
	for t in ts:
		t.start()
	for t in ts:
		t.join(30)
	bad = [x for x in results if x is not True]
	check(len(results) == 40 and not bad, "%d of 40 clients done; failures: %s" % (len(results), bad[:3]))


@test
def hop_by_hop_removed(env):
	hdrs = [("Connection", "close, X-Hop"), ("X-Hop", "1"), ("Proxy-Connection", "keep-alive"),
		("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "X-Later"),
		("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
		("X-End-To-End", "kept"), ("User-Agent", "arc-it/1"), ("Cache-Control", "no-cache")]
	with Conn(env.proxy.port) as c:
		c.request("GET", _url(env, "/echo?a=1&b=%20x"), hdrs)
		r = c.read_response()
		check(r.status == 200, "status %d" % r.status)
		check(c.at_eof(3), "client connection left open after the client asked for Connection: close")
	j = r.json()
	got = {}
	for k, v in j["headers"]:
		got.setdefault(k.lower(), []).append(v)
	for h in ("x-hop", "proxy-connection", "keep-alive", "te", "trailer", "proxy-authorization"):
		check(h not in got, "hop-by-hop header %s reached the origin: %r" % (h, got.get(h)))
	conn = " ".join(got.get("connection", [])).lower()
	check("x-hop" not in conn, "the client's Connection header reached the origin: %r" % conn)
	for h, v in (("x-end-to-end", "kept"), ("user-agent", "arc-it/1"), ("cache-control", "no-cache")):
		check(got.get(h) == [v], "end-to-end header %s: %r" % (h, got.get(h)))
	check(got.get("host") == ["127.0.0.1:%d" % env.origin.http_port], "Host at the origin: %r" % got.get("host"))
	check(j["path"] == "/echo?a=1&b=%20x", "origin's request target %r is not origin-form" % j["path"])
	check(j["request_line"] == "GET /echo?a=1&b=%20x HTTP/1.1", "request line %r" % j["request_line"])


@test
def other_methods(env):
	with Conn(env.proxy.port) as c:
		for m in ("PUT", "DELETE", "OPTIONS", "PATCH"):
			c.request(m, _url(env, "/echo"), body=b"x" * 10)
			r = c.read_response()
			check(r.status == 200, "%s status %d" % (m, r.status))
			j = r.json()
			check((j["method"], j["body_length"]) == (m, 10), "%s arrived as %r" % (m, j))


@test
def websocket_upgrade(env):
	key = "dGhlIHNhbXBsZSBub25jZQ=="
	with Conn(env.proxy.port, timeout=10) as c:
		c.request("GET", _url(env, "/ws"), [("Upgrade", "websocket"), ("Connection", "Upgrade"),
						    ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
		status, _, headers, head = c.read_head()
		check(status == 101, "wanted 101 Switching Protocols, got %r" % head[:100])
		hd = {k.lower(): v for k, v in headers}
		check(hd.get("sec-websocket-accept") == origin_mod.ws_accept(key),
		      "Sec-WebSocket-Accept %r" % hd.get("sec-websocket-accept"))
		check(hd.get("upgrade", "").lower() == "websocket", "Upgrade header %r" % hd.get("upgrade"))
		c.send(origin_mod.ws_frame(1, b"hello arc", mask=True))
		check(origin_mod.ws_read_frame(c.read_exact) == (True, 1, b"hello arc"), "text frame not echoed")
		big = payload(150000)
		c.send(origin_mod.ws_frame(2, big, mask=True))
		fin, op, data = origin_mod.ws_read_frame(c.read_exact)
		check(op == 2 and data == big, "binary frame not echoed intact")
		c.send(origin_mod.ws_frame(8, b"\x03\xe8", mask=True))
		check(origin_mod.ws_read_frame(c.read_exact)[1] == 8, "no close frame back")
		check(c.at_eof(5), "connection not closed after the WebSocket close")


@test
def urllib_proxy_handler(env):
	opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": _proxy(env)}))
	with opener.open(_url(env, "/bytes/20000"), timeout=10) as r:
		check(r.status == 200 and r.read() == payload(20000), "urllib GET through the proxy failed")
	req = urllib.request.Request(_url(env, "/echo"), data=b"posted by urllib", method="POST")
	with opener.open(req, timeout=10) as r:
		j = json.loads(r.read())
	check(j["body_sha256"] == sha_of(b"posted by urllib"), "urllib POST body differs")


@test
def hosts_table_names(env):
	r = fetch(env.proxy.port, "GET", _url(env, "/bytes/100", host="origin.test"))
	check(r.status == 200 and r.body == payload(100), "origin.test (rule 'origin.test:PORT'): %r" % r)
	r = fetch(env.proxy.port, "GET", _url(env, "/echo", host="api.origin.test"))
	check(r.status == 200, "api.origin.test (rule 'api.origin.test:PORT'): %r" % r)
	host = [v for k, v in r.json()["headers"] if k.lower() == "host"]
	check(host == ["api.origin.test:%d" % env.origin.http_port], "Host at the origin %r" % host)


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
