"""Request and response smuggling: every message means the same to the proxy and to the next hop.

A raw origin parses requests the way a plain HTTP/1.1 server does (Content-Length, or chunked
when Transfer-Encoding names it) and records each request it parsed, so a body that a second
parser frames differently shows up as an extra request.

Expectations:
- Connection naming Content-Length or Transfer-Encoding removes no framing field: the
  brief's request (Connection: content-length, a body that is a request) reaches the origin
  as one request with its body, and the access log has one line for it; the same with
  chunked; a response whose Connection names its framing keeps it, so the next response on
  the client connection parses.
- Chunk extensions, white space in chunk lines and trailers do not reach the origin: only
  canonical chunked framing goes on; data not followed by CRLF -> 400.
- A 101 to a request that asked for no upgrade -> 502.
- Heads another parser could read differently get 400 (requests) or 502 (responses), and
  nothing reaches the origin: Transfer-Encoding not ending in chunked, chunked twice,
  a transfer coding outside the registry (gzip, deflate, compress, x-gzip, x-compress),
  Transfer-Encoding in HTTP/1.0, line folding, bare LF or CR, white space before a colon,
  a control character in the target, both framings, two Content-Lengths.
- An HTTP/1.0 client gets no 1xx response, and its Upgrade field goes no further.
- A response with a transfer coding other than chunked -> 502 for an HTTP/1.0 client, which
  reads no Transfer-Encoding (RFC 9112 6.1; chunked alone is undone), with a log line; an
  HTTP/1.1 client gets it as sent.
- A trailer named Transfer-Encoding, arriving in another read than the chunks before it,
  changes nothing (http-parser reads it as a header field and clears its chunked flag):
  the client gets one canonical chunked response without the trailer, the bytes the origin
  sent after it are not read as the next response (that upstream connection is not reused),
  and a request with such a trailer reaches the origin as one canonical request.
"""

import socket
import threading
import time

from harness import Conn, check, direct, healthy, poll, standard_env, stop_env, test
import origin as origin_mod

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

# Canned responses of the raw origin, by request path.
RESPONSES = {
	"/resp/conn-cl": b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nfirst",
	"/resp/conn-te": b"HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n"
			 b"\r\n5\r\nfirst\r\n0\r\n\r\n",
	"/resp/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nfirst",
	"/resp/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		       b"5\r\nfirst\r\n0\r\n\r\n",
	"/resp/chunk-ext": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			   b"5;ext=\"a\nb\"\r\nfirst\r\n0\r\nX-Trailer: 1\r\n\r\n",
	"/resp/100": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
	"/resp/101": b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n"
		     b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
	"/resp/te-gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
				 b"5\r\nfirst\r\n0\r\n\r\n",
	# A tuple is sent in parts, a pause between them, so that the proxy reads each alone:
	# here the trailer's name is cut, and a whole response follows the message.
	"/resp/trailer-te": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			     b"5\r\nfirst\r\n0\r\nTransfer-Enc",
			     b"oding: gzip\r\n\r\n"
			     b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"),
}


class RawOrigin:
	"""A keep-alive HTTP/1.1 origin over raw sockets that records what it parsed:
	requests is a list of dicts (line, headers, body, raw_body)."""

	def __init__(self):
		self.requests = []
		self.conns = 0
		self.lock = threading.Lock()
		self.svc = origin_mod.TcpService(self._handle)
		self.port = self.svc.port

	def paths(self):
		with self.lock:
			return [r["line"].split(" ")[1] if " " in r["line"] else r["line"]
				for r in self.requests]

	def _handle(self, conn):
		buf = [b""]
		with self.lock:
			self.conns += 1
			conn_id = self.conns

		def fill():
			d = conn.recv(65536)
			if not d:
				raise EOFError
			buf[0] += d

		def line():
			for _ in range(10000):
				i = buf[0].find(b"\r\n")
				if i >= 0:
					out, buf[0] = buf[0][:i], buf[0][i + 2:]
					return out
				fill()
			raise EOFError

		def exact(n):
			for _ in range(100000):
				if len(buf[0]) >= n:
					out, buf[0] = buf[0][:n], buf[0][n:]
					return out
				fill()
			raise EOFError

		try:
			for _ in range(1000):
				first = line().decode("latin-1")
				headers = []
				for _ in range(200):
					h = line().decode("latin-1")
					if not h:
						break
					k, _, v = h.partition(":")
					headers.append((k.strip().lower(), v.strip()))
				hd = dict(headers)
				body = raw = b""
				if "chunked" in hd.get("transfer-encoding", "").lower():
					for _ in range(10000):
						size_line = line()
						raw += size_line + b"\r\n"
						size = int(size_line.split(b";")[0].strip() or b"x", 16)
						if size == 0:
							for _ in range(100):
								t = line()
								raw += t + b"\r\n"
								if not t:
									break
							break
						data = exact(size)
						body += data
						raw += data + exact(2)
				elif "content-length" in hd:
					body = raw = exact(int(hd["content-length"]))
				with self.lock:
					self.requests.append({"line": first, "headers": headers,
							      "body": body, "raw_body": raw,
							      "conn": conn_id})
				parts = first.split(" ")
				resp = RESPONSES.get(parts[1] if len(parts) > 1 else "")
				if resp is None:
					resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
				if isinstance(resp, tuple):
					for i, part in enumerate(resp):
						if i > 0:
							time.sleep(0.3)
						conn.sendall(part)
				else:
					conn.sendall(resp)
		except (EOFError, ValueError, OSError):
			return

	def close(self):
		self.svc.close()


def setup():
	raw = RawOrigin()
	env = standard_env(name="smuggling", routes=[direct("127.0.0.1:%d" % raw.port)])
	env.raw = raw
	return env


def teardown(env):
	env.raw.close()
	return stop_env(env)


def _exchange(env, data, n=1, method="GET", timeout=5):
	"""Send data on a fresh connection; read n responses (None for each one missing)."""
	out = []
	with Conn(env.proxy.port, timeout) as c:
		c.send(data)
		for _ in range(n):
			try:
				out.append(c.read_response(method))
			except (EOFError, ConnectionResetError, socket.timeout):
				out.append(None)
	return out


def _new_requests(env, before):
	"""The requests the raw origin parsed since before (a count), once they settle."""
	poll(lambda: len(env.raw.requests) > before, timeout=1.0)
	with env.raw.lock:
		return env.raw.requests[before:]


def _base(env):
	return "http://127.0.0.1:%d" % env.raw.port


@test
def connection_content_length(env):
	"""The request from the report: POST, Connection: content-length, a body that is a
	request. The origin must parse one request whose body is those bytes."""
	before = len(env.raw.requests)
	req = (b"POST %s/ HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\n"
	       b"Content-Length: %d\r\n\r\n" % (_base(env).encode(), len(SMUGGLED))) + SMUGGLED
	r = _exchange(env, req)[0]
	check(r is not None and r.status == 200, "POST with Connection: content-length: %r" % r)
	got = _new_requests(env, before)
	check(len(got) == 1, "the origin parsed %d requests for one: %r"
	      % (len(got), [g["line"] for g in got]))
	check(got[0]["body"] == SMUGGLED, "the origin read the body %r" % got[0]["body"])
	check(all(p != "/smuggled" for p in env.raw.paths()), "the smuggled request reached the origin")
	def lines():
		return [ln for ln in env.proxy.access_log_lines() if ":%d/" % env.raw.port in ln]
	poll(lines, timeout=3)
	check(len(lines()) == 1, "access log: %d lines for one request: %r" % (len(lines()), lines()))


@test
def connection_transfer_encoding(env):
	before = len(env.raw.requests)
	req = (b"POST %s/ HTTP/1.1\r\nHost: x\r\nConnection: transfer-encoding\r\n"
	       b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
	       % (_base(env).encode(), len(SMUGGLED), SMUGGLED))
	r = _exchange(env, req)[0]
	check(r is not None and r.status == 200, "POST with Connection: transfer-encoding: %r" % r)
	got = _new_requests(env, before)
	check(len(got) == 1, "the origin parsed %d requests for one: %r"
	      % (len(got), [g["line"] for g in got]))
	check(got[0]["body"] == SMUGGLED, "the origin read the body %r" % got[0]["body"])


@test
def chunk_extensions_and_trailers_stay(env):
	before = len(env.raw.requests)
	req = (b"POST %s/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	       b"5;a=\"x\nGET /smuggled HTTP/1.1\"\r\nhello\r\n0006 \r\n world\r\n0;z\r\n"
	       b"X-Trailer: 1\r\n\r\n" % _base(env).encode())
	r = _exchange(env, req)[0]
	check(r is not None and r.status == 200, "chunked POST with extensions: %r" % r)
	got = _new_requests(env, before)
	check(len(got) == 1, "the origin parsed %d requests for one" % len(got))
	check(got[0]["body"] == b"hello world", "the origin read %r" % got[0]["body"])
	check(got[0]["raw_body"] == b"5\r\nhello\r\n0006\r\n world\r\n0\r\n\r\n",
	      "extensions, white space or trailers reached the origin: %r" % got[0]["raw_body"])
	# http-parser takes any two bytes after chunk data; the proxy does not.
	before = len(env.raw.requests)
	req = (b"POST %s/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	       b"5\r\nhelloXY0\r\n\r\n" % _base(env).encode())
	r = _exchange(env, req)[0]
	check(r is None or r.status == 400, "chunk data without CRLF: %r" % r)
	got = _new_requests(env, before)
	check(all(g["body"] != b"hello" for g in got), "chunk data without CRLF reached the origin")


@test
def ambiguous_requests_400(env):
	base = _base(env).encode()
	cases = [
		b"Transfer-Encoding: gzip\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
		b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
		b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
		b"Transfer-Encoding: chunk\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		b"Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
		b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		b"X: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		b"Content-Length : 5\r\n\r\nhello",
		b"X: a\nContent-Length: 5\r\n\r\nhello",
		b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	]
	for extra in cases:
		before = len(env.raw.requests)
		req = b"POST %s/ HTTP/1.1\r\nHost: x\r\n" % base + extra
		r = _exchange(env, req)[0]
		check(r is not None and r.status == 400, "%r: wanted 400, got %r" % (extra, r))
		check(not _new_requests(env, before), "%r reached the origin" % extra)
	for req in (b"POST %s/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % base,
		    b"GET %s/x\ty HTTP/1.1\r\nHost: x\r\n\r\n" % base):
		before = len(env.raw.requests)
		r = _exchange(env, req)[0]
		check(r is not None and r.status == 400, "%r: wanted 400, got %r" % (req, r))
		check(not _new_requests(env, before), "%r reached the origin" % req)
	healthy(env.proxy, "after ambiguous requests")


@test
def response_framing_kept(env):
	"""A response whose Connection names its framing field keeps it: the next response on the
	same client connection parses."""
	for path in ("/resp/conn-cl", "/resp/conn-te", "/resp/chunk-ext"):
		req = (b"GET %s%s HTTP/1.1\r\nHost: x\r\n\r\nGET %s/next HTTP/1.1\r\nHost: x\r\n\r\n"
		       % (_base(env).encode(), path.encode(), _base(env).encode()))
		first, second = _exchange(env, req, n=2, timeout=3)
		check(first is not None and first.status == 200 and first.body == b"first",
		      "%s: first response %r" % (path, first))
		check(len(first.all("content-length")) + len(first.all("transfer-encoding")) == 1,
		      "%s: framing fields %r" % (path, first.headers))
		check(second is not None and second.status == 200 and second.body == b"ok",
		      "%s: the next response on the connection: %r" % (path, second))
		if path == "/resp/chunk-ext":
			check(b";" not in first.head and b"ext" not in first.head,
			      "chunk extension in the head: %r" % first.head)


@test
def chunk_extension_not_forwarded_down(env):
	with Conn(env.proxy.port) as c:
		c.send(b"GET %s/resp/chunk-ext HTTP/1.1\r\nHost: x\r\n\r\n" % _base(env).encode())
		status, _, headers, _ = c.read_head()
		check(status == 200, "status %d" % status)
		raw = c.read_until(b"0\r\n\r\n")
	check(raw == b"5\r\nfirst\r\n0\r\n\r\n", "the client got the chunked body %r" % raw)


@test
def ambiguous_responses_502(env):
	for path in ("/resp/te-gzip", "/resp/cl-te", "/resp/101"):
		r = _exchange(env, b"GET %s%s HTTP/1.1\r\nHost: x\r\n\r\n" % (_base(env).encode(), path.encode()))[0]
		check(r is not None and r.status == 502, "%s: wanted 502, got %r" % (path, r))


@test
def no_1xx_for_http10(env):
	with Conn(env.proxy.port) as c:
		c.send(b"GET %s/resp/100 HTTP/1.0\r\nHost: x\r\n\r\n" % _base(env).encode())
		status, _, _, _ = c.read_head()
		check(status == 200, "an HTTP/1.0 client got status %d first" % status)
	with Conn(env.proxy.port) as c:
		c.send(b"GET %s/resp/100 HTTP/1.1\r\nHost: x\r\n\r\n" % _base(env).encode())
		status, _, _, _ = c.read_head()
		check(status == 100, "an HTTP/1.1 client got status %d first, not the 100" % status)
	# Nor an upgrade: HTTP/1.0 has none, and the origin, which gets HTTP/1.1, must not see one.
	before = len(env.raw.requests)
	r = _exchange(env, b"GET %s/up HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\n"
		      b"Upgrade: websocket\r\n\r\n" % _base(env).encode())[0]
	check(r is not None and r.status == 200, "HTTP/1.0 request with Upgrade: %r" % r)
	got = _new_requests(env, before)
	check(got and not any(k == "upgrade" or "upgrade" in v.lower() for k, v in got[0]["headers"]),
	      "the origin got an upgrade for an HTTP/1.0 client: %r" % (got and got[0]["headers"]))


@test
def trailer_transfer_encoding_response(env):
	"""A chunked response whose trailer is named Transfer-Encoding, cut in two reads, and a
	whole response after it on the same upstream connection."""
	base = _base(env).encode()
	before = len(env.raw.requests)
	with Conn(env.proxy.port) as c:
		c.send(b"GET %s/resp/trailer-te HTTP/1.1\r\nHost: x\r\n\r\n" % base)
		status, _, headers, _ = c.read_head()
		check(status == 200, "status %d" % status)
		check([v for k, v in headers if k.lower() == "transfer-encoding"] == ["chunked"],
		      "framing fields %r" % headers)
		raw = c.read_until(b"\r\n\r\n")
		check(raw == b"5\r\nfirst\r\n0\r\n\r\n",
		      "the client got the chunked body %r (trailer bytes past the framing)" % raw)
		# Exactly one response: nothing more arrives until the client asks again.
		c.settimeout(0.5)
		try:
			c._fill()
			extra = c.buf
		except socket.timeout:
			extra = b""
		except EOFError:
			extra = c.buf
		check(extra == b"", "bytes after the response: %r" % extra)
		c.settimeout(5)
		# The next request on the same client connection gets its own response, not
		# what the origin sent after the first one.
		c.send(b"GET %s/next HTTP/1.1\r\nHost: x\r\n\r\n" % base)
		r = c.read_response()
		check(r.status == 200 and r.body == b"ok",
		      "the next response on the connection: %r %r" % (r.status, r.body))
	poll(lambda: len(env.raw.requests) >= before + 2, timeout=2)
	with env.raw.lock:
		got = env.raw.requests[before:]
	check([g["line"].split(" ")[1] for g in got] == ["/resp/trailer-te", "/next"],
	      "the origin parsed %r" % [g["line"] for g in got])
	check(got[0]["conn"] != got[1]["conn"],
	      "the upstream connection with bytes left after the response was reused")


@test
def trailer_transfer_encoding_request(env):
	"""A chunked request whose trailer is named Transfer-Encoding, cut in two reads."""
	base = _base(env).encode()
	before = len(env.raw.requests)
	with Conn(env.proxy.port) as c:
		c.send(b"POST %s/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		       b"5\r\nhello\r\n0\r\nTransfer-Enc" % base)
		time.sleep(0.3)
		c.send(b"oding: gzip\r\n\r\n")
		r = c.read_response()
		check(r.status == 200 and r.body == b"ok", "response %r %r" % (r.status, r.body))
	_new_requests(env, before)
	time.sleep(0.3)		# any second request would be parsed by now
	with env.raw.lock:
		got = env.raw.requests[before:]
	check(len(got) == 1, "the origin parsed %d requests for one: %r"
	      % (len(got), [g["line"] for g in got]))
	check(got[0]["body"] == b"hello", "the origin read the body %r" % got[0]["body"])
	check(got[0]["raw_body"] == b"5\r\nhello\r\n0\r\n\r\n",
	      "trailer bytes reached the origin: %r" % got[0]["raw_body"])


@test
def transfer_coding_to_http10_502(env):
	base = _base(env).encode()
	with Conn(env.proxy.port) as c:
		c.send(b"GET %s/resp/te-gzip-chunked HTTP/1.0\r\nHost: x\r\n\r\n" % base)
		r = c.read_response()
		check(r.status == 502, "an HTTP/1.0 client got %d %r" % (r.status, r.headers))
		check(not r.all("transfer-encoding"), "Transfer-Encoding to HTTP/1.0: %r" % r.headers)
		check(c.at_eof(), "the connection stays open after the 502")
	check(env.proxy.log_has(r"response refused: a transfer coding other than chunked "
				r"for an HTTP/1\.0 client"), "no log line for the refusal")
	# Chunked alone is undone for it; an HTTP/1.1 client gets the codings as sent.
	r = _exchange(env, b"GET %s/resp/conn-te HTTP/1.0\r\nHost: x\r\n\r\n" % base)[0]
	check(r is not None and r.status == 200 and r.body == b"first" and
	      not r.all("transfer-encoding"), "HTTP/1.0 client, chunked: %r" % r)
	r = _exchange(env, b"GET %s/resp/te-gzip-chunked HTTP/1.1\r\nHost: x\r\n\r\n" % base)[0]
	check(r is not None and r.status == 200 and r.body == b"first" and
	      r.all("transfer-encoding") == ["gzip, chunked"], "HTTP/1.1 client: %r" % r)
