"""origin.py -- the test origin: HTTP/1.1, HTTPS, WebSocket and raw TCP services.

Everything listens on 127.0.0.1 and runs in daemon threads of the test process,
so a test can read what a service saw (connection ids, half-close reports).

HTTP endpoints (plain and TLS listeners serve the same ones):
  GET  /bytes/N     N deterministic bytes (payload(N)), Content-Length, X-Sha256
  GET  /chunked/N   the same bytes, Transfer-Encoding: chunked
  ANY  /echo        JSON: method, path, request_line, headers, body_length, body_sha256
                    (Content-Length or chunked request bodies; Expect: 100-continue honoured)
  GET  /status/N    status N; 1xx/204/304 carry no body, others Content-Length: 0
  GET  /close/N     N bytes, no Content-Length, the connection close ends the body
  GET  /conn-id     an id unique to the TCP connection (proves upstream reuse)
  GET  /ws          WebSocket echo (RFC 6455)
  GET  /bigheader/N a response whose head carries an N-byte header
  OPTIONS *         200, body "*\n"
  ANY  /drop        no answer: the request (method, query, connection id) goes to
                    drop_log and the connection closes; ?interim=1 sends 100 Continue first
  HEAD on all of them: the head GET would send, no body.
  ?close_after_ms=N on any of them: the origin closes the (keep-alive) connection N ms after
  the response; /echo?delay_ms=N waits N ms before reading the request body;
  /status/304?cl=N sends Content-Length: N with the 304 (and no body).

Enterprise proxy (enterprise_port): CONNECT only, see EnterpriseProxy.

DNS (UDP, dns_port): A records for DNS_NAMES, NXDOMAIN for other names, no answer at all
for names under DNS_SILENT (a resolver that never replies). dns_queries lists what was asked.

Raw TCP services:
  echo_port       echoes bytes; on the client's EOF sends b"BYE\\n" and closes.
  halfclose_port  sends HALF_N bytes, shuts down its write side, then reads to EOF and
                  records (length, sha256) in halfclose_results under the first 16 bytes
                  it received (the client's token), then closes.
  deny_port, ssrf_port, plain echo services that only deny/SSRF tests point at.
"""

import base64
import functools
import hashlib
import http.server
import json
import os
import random
import select
import socket
import ssl
import struct
import subprocess
import threading
import time

HALF_N = 300000
ACCEPT_LIFETIME_S = 3600	# a raw TCP service stops accepting after this long
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@functools.lru_cache(maxsize=8)
def payload(n):
	"""N deterministic pseudo-random bytes: the same N always gives the same bytes."""
	return random.Random(n).randbytes(n)


@functools.lru_cache(maxsize=32)
def sha(n):
	return hashlib.sha256(payload(n)).hexdigest()


def make_pki(directory):
	"""A throwaway CA and a server certificate for origin.test, *.origin.test and 127.0.0.1.

	Returns (ca_cert, server_cert, server_key) paths."""
	ca_key = os.path.join(directory, "ca.key")
	ca_crt = os.path.join(directory, "ca.pem")
	key = os.path.join(directory, "origin.key")
	csr = os.path.join(directory, "origin.csr")
	crt = os.path.join(directory, "origin.pem")
	ext = os.path.join(directory, "origin.ext")
	ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
	run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=30)
	run(["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "2",
	     "-subj", "/CN=arcproxy integration test CA",
	     "-addext", "basicConstraints=critical,CA:TRUE",
	     "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
	run(["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=origin.test"])
	with open(ext, "w") as f:
		f.write("basicConstraints=critical,CA:FALSE\n"
			"keyUsage=critical,digitalSignature,keyEncipherment\n"
			"extendedKeyUsage=serverAuth\n"
			"subjectAltName=DNS:origin.test,DNS:*.origin.test,IP:127.0.0.1\n"
			"authorityKeyIdentifier=keyid\n"
			"subjectKeyIdentifier=hash\n")
	run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
	     "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
	return ca_crt, crt, key


# --- WebSocket framing, shared by the origin and the tests' client ----------

def ws_frame(opcode, data, mask=False, fin=True):
	head = bytes([(0x80 if fin else 0) | opcode])
	n = len(data)
	mbit = 0x80 if mask else 0
	if n < 126:
		head += bytes([mbit | n])
	elif n < 65536:
		head += bytes([mbit | 126]) + struct.pack("!H", n)
	else:
		head += bytes([mbit | 127]) + struct.pack("!Q", n)
	if not mask:
		return head + data
	key = os.urandom(4)
	return head + key + _ws_mask(key, data)


def _ws_mask(key, data):
	if not data:
		return b""
	k = (key * (len(data) // 4 + 1))[:len(data)]
	return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(len(data), "big")


def ws_read_frame(read_exact):
	"""Read one frame with read_exact(n) -> bytes. Returns (fin, opcode, payload)."""
	b0, b1 = read_exact(2)
	n = b1 & 0x7F
	if n == 126:
		n = struct.unpack("!H", read_exact(2))[0]
	elif n == 127:
		n = struct.unpack("!Q", read_exact(8))[0]
	key = read_exact(4) if b1 & 0x80 else None
	data = read_exact(n) if n else b""
	if key:
		data = _ws_mask(key, data)
	return bool(b0 & 0x80), b0 & 0x0F, data


def ws_accept(key):
	return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


# --- HTTP -------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	timeout = 30
	server_version = "arc-test-origin"

	def setup(self):
		if isinstance(self.request, ssl.SSLSocket):
			self.request.settimeout(10)
			self.request.do_handshake()
		super().setup()
		self.conn_id = self.server.origin._next_conn_id()

	def log_message(self, *args):
		pass

	def _split(self):
		path, _, query = self.path.partition("?")
		return path, query

	def _param(self, name, default=0):
		"""An integer query parameter, capped at 10 s worth of milliseconds."""
		for kv in self._split()[1].split("&"):
			k, _, v = kv.partition("=")
			if k == name and v.isdigit():
				return min(int(v), 10000)
		return default

	def _nbytes(self, prefix):
		try:
			n = int(self._split()[0][len(prefix):])
		except ValueError:
			return None
		return n if 0 <= n <= (1 << 31) else None

	def _reply(self, code, body=b"", ctype="text/plain", extra=()):
		self.send_response(code)
		self.send_header("Content-Type", ctype)
		self.send_header("Content-Length", str(len(body)))
		for k, v in extra:
			self.send_header(k, v)
		self.end_headers()
		if self.command != "HEAD":
			self.wfile.write(body)

	def _dispatch(self):
		path, _ = self._split()
		if path.startswith("/bytes/"):
			return self._bytes(chunked=False)
		if path.startswith("/chunked/"):
			return self._bytes(chunked=True)
		if path == "/echo":
			return self._echo()
		if path.startswith("/status/"):
			return self._status()
		if path.startswith("/close/"):
			return self._close()
		if path == "/conn-id":
			return self._reply(200, str(self.conn_id).encode())
		if path == "/ws":
			return self._ws()
		if path.startswith("/bigheader/"):
			n = self._nbytes("/bigheader/") or 0
			return self._reply(200, b"ok\n", extra=[("X-Big", "b" * n)])
		if path == "/drop":
			return self._drop()
		if path == "*":		# OPTIONS * (the server as a whole)
			return self._reply(200, b"*\n")
		self._drain_body()
		return self._reply(404, b"no such endpoint\n")

	def _handle(self):
		self._dispatch()
		linger = self._param("close_after_ms")
		if linger:
			# keep-alive as far as the client knows, then close while it is idle
			self.wfile.flush()
			time.sleep(linger / 1000)
			self.close_connection = True

	do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

	def _drop(self):
		self._drain_body()
		with self.server.origin._lock:
			self.server.origin.drop_log.append((self.command, self._split()[1], self.conn_id))
		if self._param("interim"):
			self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
			self.wfile.flush()
		self.close_connection = True

	def _drain_body(self):
		n = int(self.headers.get("Content-Length") or 0)
		while n > 0:
			d = self.rfile.read(min(n, 65536))
			if not d:
				break
			n -= len(d)

	def _bytes(self, chunked):
		n = self._nbytes("/chunked/" if chunked else "/bytes/")
		if n is None:
			return self._reply(400, b"bad size\n")
		data = payload(n)
		self.send_response(200)
		self.send_header("Content-Type", "application/octet-stream")
		self.send_header("X-Sha256", sha(n))
		if chunked:
			self.send_header("Transfer-Encoding", "chunked")
		else:
			self.send_header("Content-Length", str(n))
		self.end_headers()
		if self.command == "HEAD":
			return
		view = memoryview(data)
		if not chunked:
			self.wfile.write(view)
			return
		step = 65536
		for i in range(0, n, step):
			part = view[i:i + step]
			self.wfile.write(b"%x\r\n" % len(part) + bytes(part) + b"\r\n")
		self.wfile.write(b"0\r\n\r\n")

	def _read_chunked(self, h):
		total = 0
		for _ in range(1 << 20):
			line = self.rfile.readline(1024)
			size_s = line.split(b";")[0].strip()
			try:
				if not line.endswith(b"\n") or not size_s:
					raise ValueError
				size = int(size_s, 16)
			except ValueError:
				return None
			if size == 0:
				# trailers up to the empty line
				for _ in range(100):
					t = self.rfile.readline(8192)
					if t in (b"\r\n", b"\n", b""):
						return total
				return None
			left = size
			while left:
				d = self.rfile.read(min(left, 262144))
				if not d:
					return None
				h.update(d)
				left -= len(d)
			total += size
			if self.rfile.readline(4) not in (b"\r\n", b"\n"):
				return None
		return None

	def _echo(self):
		h = hashlib.sha256()
		time.sleep(self._param("delay_ms") / 1000)	# a slow reader of the request body
		te = self.headers.get("Transfer-Encoding", "")
		if "chunked" in te.lower():
			total = self._read_chunked(h)
			if total is None:
				self.close_connection = True
				return self._reply(400, b"bad chunked body\n", extra=[("Connection", "close")])
		else:
			total = 0
			left = int(self.headers.get("Content-Length") or 0)
			while left:
				d = self.rfile.read(min(left, 262144))
				if not d:
					self.close_connection = True
					return
				h.update(d)
				total += len(d)
				left -= len(d)
		body = json.dumps({
			"method": self.command,
			"path": self.path,
			"request_line": self.requestline,
			"version": self.request_version,
			"headers": [[k, v] for k, v in self.headers.items()],
			"body_length": total,
			"body_sha256": h.hexdigest(),
			"conn_id": self.conn_id,
		}).encode()
		self.server.origin.echo_log.append(json.loads(body))
		self._reply(200, body, "application/json")

	def _status(self):
		code = self._nbytes("/status/")
		if code is None or not 200 <= code <= 599:
			return self._reply(400, b"bad status\n")
		if code in (204, 304):
			self.send_response(code)
			if code == 304 and self._param("cl"):
				# allowed on a 304: the length the full response would have had
				self.send_header("Content-Length", str(self._param("cl")))
			self.end_headers()
			return
		self._reply(code)

	def _close(self):
		n = self._nbytes("/close/")
		if n is None:
			return self._reply(400, b"bad size\n")
		self.send_response(200)
		self.send_header("Content-Type", "application/octet-stream")
		self.send_header("X-Sha256", sha(n))
		self.send_header("Connection", "close")
		self.end_headers()
		self.close_connection = True
		if self.command != "HEAD":
			self.wfile.write(memoryview(payload(n)))

	def _ws(self):
		key = self.headers.get("Sec-WebSocket-Key")
		if not key or "websocket" not in self.headers.get("Upgrade", "").lower():
			return self._reply(400, b"not a websocket handshake\n")
		self.send_response(101)
		self.send_header("Upgrade", "websocket")
		self.send_header("Connection", "Upgrade")
		self.send_header("Sec-WebSocket-Accept", ws_accept(key))
		self.end_headers()
		self.wfile.flush()
		self.close_connection = True

		def read_exact(n):
			d = self.rfile.read(n)
			if len(d) != n:
				raise EOFError
			return d
		try:
			for _ in range(10000):
				fin, op, data = ws_read_frame(read_exact)
				if op == 8:
					self.wfile.write(ws_frame(8, data[:2]))
					return
				if op == 9:
					self.wfile.write(ws_frame(10, data))
				elif op in (0, 1, 2):
					self.wfile.write(ws_frame(op, data, fin=fin))
		except (EOFError, OSError, ValueError):
			return


class _HTTPServer(http.server.ThreadingHTTPServer):
	daemon_threads = True
	block_on_close = False
	allow_reuse_address = True
	request_queue_size = 128

	def handle_error(self, request, client_address):
		pass


class _TLSServer(_HTTPServer):
	def get_request(self):
		sock, addr = self.socket.accept()
		return self.ssl_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


# --- raw TCP ------------------------------------------------------------------

class TcpService:
	"""A listener on 127.0.0.1 that runs handler(conn) in a thread per connection."""

	def __init__(self, handler):
		self.handler = handler
		self.sock = socket.socket()
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind(("127.0.0.1", 0))
		self.sock.listen(64)
		self.port = self.sock.getsockname()[1]
		self.stopping = False
		self.accepted = 0
		threading.Thread(target=self._accept_loop, daemon=True).start()

	def _accept_loop(self):
		for _ in range(int(ACCEPT_LIFETIME_S / 0.2)):
			if self.stopping:
				return
			try:
				r, _, _ = select.select([self.sock], [], [], 0.2)
			except (OSError, ValueError):	# closed under us by close()
				return
			if not r or self.stopping:
				continue
			try:
				conn, _ = self.sock.accept()
			except OSError:
				continue
			self.accepted += 1
			threading.Thread(target=self._run, args=(conn,), daemon=True).start()

	def _run(self, conn):
		conn.settimeout(30)
		try:
			self.handler(conn)
		except OSError:
			pass
		finally:
			conn.close()

	def close(self):
		self.stopping = True
		self.sock.close()


def _echo_bye(conn):
	for _ in range(1 << 20):
		d = conn.recv(262144)
		if not d:
			break
		conn.sendall(d)
	conn.sendall(b"BYE\n")


class EnterpriseProxy:
	"""A CONNECT-only HTTP proxy on 127.0.0.1 standing in for an operator's enterprise proxy.

	It resolves names with names (else the literal address), refuses targets in refuse
	with 403, records each request head in requests, and relays with half-close."""

	def __init__(self, names):
		self.names = names
		self.refuse = set()
		self.requests = []
		self.svc = TcpService(self._handle)
		self.port = self.svc.port

	def _handle(self, conn):
		head = b""
		for _ in range(64):
			if b"\r\n\r\n" in head or len(head) > 16384:
				break
			d = conn.recv(4096)
			if not d:
				return
			head += d
		head, _, early = head.partition(b"\r\n\r\n")
		line = head.split(b"\r\n")[0].decode("latin-1")
		self.requests.append(head.decode("latin-1"))
		parts = line.split()
		if len(parts) != 3 or parts[0] != "CONNECT":
			conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
			return
		host, _, port = parts[1].rpartition(":")
		if parts[1] in self.refuse:
			conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			return
		try:
			up = socket.create_connection((self.names.get(host, host.strip("[]")), int(port)), timeout=5)
		except (OSError, ValueError):
			conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
		up.settimeout(30)
		try:
			if early:
				up.sendall(early)
			t = threading.Thread(target=_pipe, args=(up, conn), daemon=True)
			t.start()
			_pipe(conn, up)
			t.join(30)
		finally:
			up.close()

	def close(self):
		self.svc.close()


def _pipe(src, dst):
	"""Copy src to dst until EOF, then shut down dst's write side."""
	try:
		for _ in range(1 << 20):
			d = src.recv(262144)
			if not d:
				break
			dst.sendall(d)
		dst.shutdown(socket.SHUT_WR)
	except OSError:
		pass


DNS_NAMES = {"dns.test": "127.0.0.1", "www.dns.test": "127.0.0.2"}
DNS_SILENT = ("silent.test",)


class DnsServer:
	"""A tiny authoritative-only DNS responder on 127.0.0.1 (UDP)."""

	def __init__(self, queries):
		self.queries = queries
		self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		self.sock.bind(("127.0.0.1", 0))
		self.port = self.sock.getsockname()[1]
		self.stopping = False
		threading.Thread(target=self._loop, daemon=True).start()

	def _loop(self):
		for _ in range(int(ACCEPT_LIFETIME_S / 0.2)):
			if self.stopping:
				return
			try:
				if not select.select([self.sock], [], [], 0.2)[0]:
					continue
				msg, peer = self.sock.recvfrom(4096)
			except (OSError, ValueError):
				return
			try:
				reply = self._answer(msg)
			except (IndexError, struct.error, UnicodeDecodeError):
				continue
			if reply:
				try:
					self.sock.sendto(reply, peer)
				except OSError:
					pass

	def _answer(self, msg):
		qid, flags, qd = struct.unpack("!HHH", msg[:6])
		i, labels = 12, []
		for _ in range(64):
			n = msg[i]
			i += 1
			if n == 0:
				break
			labels.append(msg[i:i + n].decode("ascii").lower())
			i += n
		qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
		question = msg[12:i + 4]
		name = ".".join(labels)
		self.queries.append((name, qtype))
		if any(name == s or name.endswith("." + s) for s in DNS_SILENT):
			return None
		rd = flags & 0x0100
		if name not in DNS_NAMES:
			return struct.pack("!HHHHHH", qid, 0x8483 | rd, 1, 0, 0, 0) + question	# NXDOMAIN
		if qtype != 1:
			return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, 0, 0, 0) + question	# no data
		answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(DNS_NAMES[name])
		return struct.pack("!HHHHHH", qid, 0x8480 | rd, 1, 1, 0, 0) + question + answer

	def close(self):
		self.stopping = True
		self.sock.close()


# arcproxy guards these ports on every route unless a rule names host and port: an origin
# service that landed on one would be refused (403) where the tests expect it reached.
ARC_PORTS = (40342, 40343, 40344)


def _hold_arc_ports():
	"""Sockets bound to ARC_PORTS (those free) while port-0 listeners are made: the kernel then
	gives them other ports.  The caller closes them."""
	held = []
	for port in ARC_PORTS:
		s = socket.socket()
		try:
			s.bind(("127.0.0.1", port))
			held.append(s)
		except OSError:
			s.close()	# taken: not free for port 0 either
	return held


class Origin:
	"""All origin services; one per test run (see harness.origin())."""

	def __init__(self, directory):
		held = _hold_arc_ports()
		try:
			self._start(directory)
		finally:
			for s in held:
				s.close()

	def _start(self, directory):
		self.dir = directory
		self.ca, self.cert, self.key = make_pki(directory)
		self._lock = threading.Lock()
		self._conn_ids = 0
		self.echo_log = []
		self.drop_log = []	# (method, query, conn_id) of each /drop request
		self.halfclose_results = {}

		self.http = _HTTPServer(("127.0.0.1", 0), _Handler)
		self.http.origin = self
		self.tls = _TLSServer(("127.0.0.1", 0), _Handler)
		self.tls.origin = self
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		ctx.load_cert_chain(self.cert, self.key)
		self.tls.ssl_ctx = ctx
		for srv in (self.http, self.tls):
			threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
					 daemon=True).start()
		self.http_port = self.http.server_address[1]
		self.tls_port = self.tls.server_address[1]

		self.echo = TcpService(_echo_bye)
		self.halfclose = TcpService(self._halfclose)
		self.deny = TcpService(_echo_bye)
		self.ssrf = TcpService(_echo_bye)
		self.echo_port = self.echo.port
		self.halfclose_port = self.halfclose.port
		self.deny_port = self.deny.port
		self.ssrf_port = self.ssrf.port
		self.dns_queries = []
		self.dns = DnsServer(self.dns_queries)
		self.dns_port = self.dns.port
		self.enterprise = EnterpriseProxy({"origin.test": "127.0.0.1"})
		self.enterprise_port = self.enterprise.port

	def _next_conn_id(self):
		with self._lock:
			self._conn_ids += 1
			return self._conn_ids

	def _halfclose(self, conn):
		conn.sendall(payload(HALF_N))
		conn.shutdown(socket.SHUT_WR)
		h = hashlib.sha256()
		token = b""
		total = 0
		for _ in range(1 << 20):
			d = conn.recv(262144)
			if not d:
				break
			if len(token) < 16:
				token += d[:16 - len(token)]
			h.update(d)
			total += len(d)
		with self._lock:
			self.halfclose_results[token] = (total, h.hexdigest())

	def close(self):
		for srv in (self.http, self.tls):
			srv.shutdown()
			srv.server_close()
		for svc in (self.echo, self.halfclose, self.deny, self.ssrf, self.dns, self.enterprise):
			svc.close()
