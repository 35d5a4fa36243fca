"""Waits with a deadline (issue 15, defect 7), and a retry that is cancelled (defect 4).

limits.connect_timeout_ms bounds the whole open of an upstream on every route, whatever the peer
does not do.  Peers here are small fakes in this file: a TCP listener that accepts and never
answers, and TLS "gateways" on cloudsim's PKI (gateway.crt) that stop at a chosen step.

Expectations (connect_timeout_ms = 1500; "in time" is within 1.2 .. 4.5 s):
- proxy.url at a listener that accepts and never answers CONNECT: a CONNECT and an absolute-form
  GET on a route = "proxy" rule get 504 with Proxy-Status connection_timeout in time.
- Gateway mode with that proxy.url in front of the gateway: 504 connection_timeout in time.
- An h2 gateway that completes TLS and SETTINGS but never answers a stream: 504 in time, the
  details say the gateway did not answer CONNECT.
- The same gateway allowing one stream (which the endpoint-list GET holds): the CONNECT waits for
  a stream slot and gets 504 in time ("no free stream"); so do several at once.
- HTTP/1.1 gateway that never answers a CONNECT on a warm connection: 504 in time.
- HTTP/1.1 gateway that accepts TCP but never finishes TLS: the queued request gets 504 in time.
- HTTP/1.1 gateway that drops the connection on CONNECT, then stalls new connections: the request
  is re-queued for its one retry; SIGTERM while it waits (drain time over) exits 0 with no sanitizer
  report (the retry's freed connection used to be freed again: defect 4).
- arcproxy stays up through all of it.
"""

import os
import re
import socket
import ssl
import struct
import threading
import time

import harness
import test_cloudsim as tcs
from harness import Conn, check, fetch, free_port, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

CONNECT_TIMEOUT_MS = 1500
LOW, HIGH = 1.2, 4.5		# seconds: "in time"
CLIENT_TIMEOUT = 10		# a client gives up here: well past HIGH


# --- fake peers ----------------------------------------------------------------------

class Peer:
	"""A loopback listener whose connections are handled by self.serve(sock) in threads."""

	def __init__(self):
		self.port = free_port()
		self.sock = socket.socket()
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind(("127.0.0.1", self.port))
		self.sock.listen(64)
		self.sock.settimeout(0.2)
		self.held = []		# sockets kept open, never answered
		self.accepted = 0
		self.stop = False
		self.lock = threading.Lock()
		self.thread = threading.Thread(target=self._run, daemon=True)
		self.thread.start()

	def _run(self):
		for _ in range(10 ** 7):
			if self.stop:
				return
			try:
				s, _ = self.sock.accept()
			except OSError:
				continue
			with self.lock:
				self.accepted += 1
			threading.Thread(target=self._serve, args=(s,), daemon=True).start()

	def _serve(self, s):
		try:
			self.serve(s)
		except (OSError, ValueError, ssl.SSLError):
			s.close()

	def serve(self, s):
		self.hold(s)

	def hold(self, s):
		with self.lock:
			self.held.append(s)

	def close(self):
		self.stop = True
		self.thread.join(2)
		with self.lock:
			held, self.held = self.held, []
		for s in held:
			s.close()
		self.sock.close()


class Silent(Peer):
	"""Accepts TCP and never says a word (an enterprise proxy that hangs)."""


def read_head(s, limit=65536):
	data = b""
	while b"\r\n\r\n" not in data:
		d = s.recv(4096)
		if not d:
			return None
		data += d
		if len(data) > limit:
			return None
	return data


class TlsGateway(Peer):
	"""A gateway on cloudsim's gateway certificate that stops at a chosen step.

	mode "h2": ALPN h2, SETTINGS (max_streams), ACKs and PINGs answered, no stream ever answered.
	mode "notls": ALPN http/1.1, TCP accepted, the TLS handshake never answered.
	mode "h1": ALPN http/1.1; the endpoint list GET gets 404; a CONNECT is never answered.
	mode "drop": ALPN http/1.1; the endpoint list GET gets 404; a CONNECT gets its connection
	closed unanswered, and every later connection is held before TLS."""

	def __init__(self, sim, mode, max_streams=100):
		self.mode = mode
		self.max_streams = max_streams
		self.headers = 0		# h2 HEADERS frames seen (requests)
		self.connects = 0		# mode drop: CONNECTs seen
		self.stalled = 0		# mode drop: connections held after the first CONNECT
		self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		self.ctx.load_cert_chain(sim.file("gateway.crt"), sim.file("gateway.key"))
		self.ctx.set_alpn_protocols(["h2"] if mode == "h2" else ["http/1.1"])
		super().__init__()

	def serve(self, s):
		if self.mode == "notls" or (self.mode == "drop" and self.connects > 0):
			with self.lock:
				self.stalled += 1
			self.hold(s)
			return
		s.settimeout(30)
		t = self.ctx.wrap_socket(s, server_side=True)
		if self.mode == "h2":
			self.serve_h2(t)
			return
		head = read_head(t)
		if head is None:
			t.close()
		elif head.startswith(b"CONNECT"):
			with self.lock:
				self.connects += 1
			if self.mode == "h1":
				self.hold(t)	# no answer, ever
			else:
				t.close()	# no answer: the client sees EOF
		else:
			t.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			t.close()

	@staticmethod
	def frame(ftype, flags, stream, payload=b""):
		return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload

	def serve_h2(self, t):
		self.hold(t)
		preface = b""
		while len(preface) < 24:
			d = t.recv(24 - len(preface))
			if not d:
				return
			preface += d
		t.sendall(self.frame(4, 0, 0, struct.pack(">HI", 3, self.max_streams)))
		buf = b""
		for _ in range(10 ** 6):
			d = t.recv(65536)
			if not d:
				return
			buf += d
			while len(buf) >= 9:
				n = int.from_bytes(buf[:3], "big")
				if len(buf) < 9 + n:
					break
				ftype, flags = buf[3], buf[4]
				payload = buf[9:9 + n]
				buf = buf[9 + n:]
				if ftype == 4 and not flags & 1:
					t.sendall(self.frame(4, 1, 0))
				elif ftype == 6 and not flags & 1:
					t.sendall(self.frame(6, 1, 0, payload))
				elif ftype == 1:
					with self.lock:
						self.headers += 1


# --- the module's environment ------------------------------------------------------------

class Env:
	def __init__(self):
		self.sim = None		# only its PKI is used: its gateway is never started
		self.proxies = []
		self.proxy = None
		self.peers = []


def setup():
	env = Env()
	try:
		sim = env.sim = tcs.Sim()
		for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1")):
			r = sim.run(*args)
			check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode,
										 r.stderr.strip()))
	except BaseException:
		teardown(env)
		raise
	return env


def teardown(env):
	problems = []
	for p in env.proxies:
		if p.proc is None or getattr(p, "stopped", False):
			continue
		crashed = p.proc.poll()
		if crashed is not None:
			problems.append("arcproxy %s had exited with status %s\n%s" % (p.base, crashed, p.stderr_tail()))
		rc = p.stop()
		if crashed is None and rc not in (0, None):
			problems.append("arcproxy %s exited %s on SIGTERM\n%s" % (p.base, rc, p.stderr_tail()))
		rep = p.sanitizer_report()
		if rep:
			problems.append("arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
	for peer in env.peers:
		peer.close()
	if not problems and not harness.KEEP:
		for p in env.proxies:
			p.cleanup()
		if env.sim is not None:
			env.sim.cleanup()
	return problems


def peer(env, p):
	env.peers.append(p)
	return p


def arcproxy(env, name, routes=(), agent_conf="", gateway=None, protocol=None, limits=None,
	     start=True):
	"""arcproxy with connect_timeout_ms = CONNECT_TIMEOUT_MS; gateway: a port on loopback
	named gw.cloudsim.test, trusted with the sim's CA (gateway mode)."""
	lim = {"connect_timeout_ms": CONNECT_TIMEOUT_MS}
	lim.update(limits or {})
	p = harness.Proxy(routes=routes, hosts=[{"name": "gw.cloudsim.test", "address": "127.0.0.1"}],
			  limits=lim, name=name)
	text = agent_conf
	if gateway:
		p.settings.pop("default_route")
		p.write_config()
		ca = os.path.join(p.conf_dir, "ca.crt")
		with open(env.sim.file("ca.crt"), "rb") as src, open(ca, "wb") as dst:
			dst.write(src.read())
		os.chmod(ca, 0o644)
		text += ('connection = { type = "gateway"; };\n'
			 'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt";%s };\n'
			 % (gateway, ' protocol = "%s";' % protocol if protocol else ""))
	if text:
		p.write_agent_conf(text)
	env.proxies.append(p)
	env.proxy = p
	return p.start() if start else p


def timed_connect(p, authority):
	"""CONNECT through p: (Response, seconds), or (None, seconds) when the client gave up."""
	t0 = time.monotonic()
	try:
		with Conn(p.port, CLIENT_TIMEOUT) as c:
			r = c.connect_tunnel(authority)
	except (socket.timeout, TimeoutError):
		r = None
	return r, time.monotonic() - t0


def check_504(p, r, dt, what, details=None, low=LOW):
	check(r is not None, "%s: no answer in %ds (connect_timeout_ms is %d)\n%s"
	      % (what, CLIENT_TIMEOUT, CONNECT_TIMEOUT_MS, p.stderr_tail(6)))
	ps = r.header("proxy-status") or ""
	check(r.status == 504 and "connection_timeout" in ps,
	      "%s: %d %s (Proxy-Status %s) after %.2fs, want 504 connection_timeout"
	      % (what, r.status, r.reason, ps, dt))
	check(low <= dt <= HIGH, "%s: 504 after %.2fs, connect_timeout_ms is %d"
	      % (what, dt, CONNECT_TIMEOUT_MS))
	if details:
		check(re.search(details, tcs.proxy_details(r)), "%s: Proxy-Status details %r, want /%s/"
		      % (what, tcs.proxy_details(r), details))
	check(p.alive(), "arcproxy exited: %s\n%s" % (p.proc.returncode, p.stderr_tail()))


# --- 1. the enterprise proxy never answers ------------------------------------------------

@test(timeout=40)
def proxy_route_unanswered_connect_504(env):
	silent = peer(env, Silent())
	p = arcproxy(env, "waitproxy", routes=[{"match": "far.test", "route": "proxy"}],
		     agent_conf='proxy = { url = "http://127.0.0.1:%d"; };\n' % silent.port)
	r, dt = timed_connect(p, "far.test:443")
	check_504(p, r, dt, "CONNECT on the proxy route", r"no answer to CONNECT")
	t0 = time.monotonic()
	try:
		r = fetch(p.port, "GET", "http://far.test/x", timeout=CLIENT_TIMEOUT)
	except (socket.timeout, TimeoutError):
		r = None
	check_504(p, r, time.monotonic() - t0, "absolute-form GET on the proxy route")
	check(silent.accepted >= 2, "the silent proxy saw %d connections, want 2" % silent.accepted)


@test(timeout=40)
def gateway_behind_unanswering_proxy_504(env):
	silent = peer(env, Silent())
	gw = peer(env, TlsGateway(env.sim, "h2"))	# never reached: the proxy never answers
	p = arcproxy(env, "waitgwproxy", gateway=gw.port,
		     agent_conf='proxy = { url = "http://127.0.0.1:%d"; };\n' % silent.port)
	r, dt = timed_connect(p, "echo.cloudsim.test:443")
	# The connection to the gateway started with arcproxy: its deadline may come first.
	check_504(p, r, dt, "CONNECT via the gateway behind a silent enterprise proxy", low=0)
	check(silent.accepted >= 1 and gw.accepted == 0,
	      "the silent proxy saw %d connections, the gateway %d" % (silent.accepted, gw.accepted))


# --- 2. the gateway never answers ------------------------------------------------------------

@test(timeout=40)
def h2_stream_unanswered_504(env):
	gw = peer(env, TlsGateway(env.sim, "h2"))
	p = arcproxy(env, "waith2", gateway=gw.port, protocol="h2")
	r, dt = timed_connect(p, "echo.cloudsim.test:443")
	check_504(p, r, dt, "CONNECT stream the h2 gateway never answers", r"did not answer CONNECT")
	check(gw.headers >= 2, "the gateway saw %d requests, want the list GET and the CONNECT"
	      % gw.headers)
	# A second one on the same connection: also bounded.
	r, dt = timed_connect(p, "echo.cloudsim.test:443")
	check_504(p, r, dt, "second CONNECT stream", r"did not answer CONNECT")
	check(gw.accepted == 1, "%d connections to the gateway, want 1" % gw.accepted)


@test(timeout=40)
def h2_queued_for_a_stream_slot_504(env):
	# One stream allowed: the endpoint list's GET holds it for good.
	gw = peer(env, TlsGateway(env.sim, "h2", max_streams=1))
	p = arcproxy(env, "waitslot", gateway=gw.port, protocol="h2")
	check(poll(lambda: gw.headers >= 1, timeout=5), "arcproxy never sent the endpoint list GET")
	time.sleep(0.3)		# our SETTINGS (one stream) reach it
	results = [None] * 3

	def one(i):
		results[i] = timed_connect(p, "echo.cloudsim.test:443")
	threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(3)]
	for t in threads:
		t.start()
	for t in threads:
		t.join(CLIENT_TIMEOUT + 5)
	for i, (r, dt) in enumerate(results):
		check_504(p, r, dt, "queued CONNECT #%d" % i, r"no free stream")
	check(gw.headers == 1, "the gateway saw %d requests past its one-stream limit" % gw.headers)


@test(timeout=40)
def h1_connect_unanswered_504(env):
	gw = peer(env, TlsGateway(env.sim, "h1"))
	p = arcproxy(env, "waith1connect", gateway=gw.port, protocol="http/1.1")
	check(poll(lambda: gw.accepted >= 2, timeout=5), "no warm connections to the gateway")
	time.sleep(0.3)
	r, dt = timed_connect(p, "echo.cloudsim.test:443")
	check_504(p, r, dt, "CONNECT the HTTP/1.1 gateway never answers", r"did not answer CONNECT")
	check(gw.connects == 1, "the gateway saw %d CONNECTs, want 1" % gw.connects)


@test(timeout=40)
def h1_queued_for_a_connection_504(env):
	gw = peer(env, TlsGateway(env.sim, "notls"))
	p = arcproxy(env, "waith1", gateway=gw.port, protocol="http/1.1")
	r, dt = timed_connect(p, "echo.cloudsim.test:443")
	check_504(p, r, dt, "CONNECT queued for a connection whose TLS never completes", low=0)


# --- 3. a retry cancelled at shutdown (defect 4) -----------------------------------------------

@test(timeout=60)
def h1_retry_cancelled_by_sigterm(env):
	gw = peer(env, TlsGateway(env.sim, "drop"))
	# The deadline is far: the retry still waits when the drain time is over.
	p = arcproxy(env, "waitretry", gateway=gw.port, protocol="http/1.1",
		     limits={"connect_timeout_ms": 30000})
	c = Conn(p.port, CLIENT_TIMEOUT)
	try:
		c.request("CONNECT", "echo.cloudsim.test:443", host="echo.cloudsim.test:443")
		check(poll(lambda: gw.connects >= 1 and gw.stalled >= 1, timeout=8),
		      "no retry: the gateway saw %d CONNECTs, %d connections after it\n%s"
		      % (gw.connects, gw.stalled, p.stderr_tail(6)))
		time.sleep(0.3)
		check(p.alive(), "arcproxy exited: %s\n%s" % (p.proc.returncode, p.stderr_tail()))
		rc = p.stop()
		p.stopped = True
	finally:
		c.close()
	rep = p.sanitizer_report()
	check(rc == 0 and not rep, "SIGTERM with a retry waiting: exit %s%s"
	      % (rc, "\n" + p.stderr_tail(30) if rep or rc != 0 else ""))
