"""cloudsim: the gateway stand-in carries tunnels over HTTP/1.1, and the echo service behind it.

Expectations:
- curl through the gateway as an HTTPS proxy (TLS to the gateway, CONNECT inside, TLS to echo inside
  that) with a machine certificate gets /bytes/N with the right length and X-Sha256, and uploads
  (Content-Length and chunked) hash to the right SHA-256.  The gateway logs one line per CONNECT.
- GET /.well-known/arc-gateway/endpoints answers the configured list without a machine certificate,
  and an anonymous destination tunnels on the same keep-alive connection.
- ALPN follows gateway.protocols (default h2, then http/1.1): h2 when offered, http/1.1 when only it
  (or nothing) is offered; a gateway configured for http/1.1 only refuses a client offering only h2,
  with a log line, and picks http/1.1 from a client offering both.
- Half-closes pass through a tunnel both ways; a tunnel idle longer than head_timeout_ms stays up.
- openssl s_client sees a verified chain and ALPN http/1.1.
- The echo service serves GET, HEAD, uploads and chunked bodies on one keep-alive connection.
- SIGTERM exits 0 with no sanitizer report.
Refusals: test_cloudsim_refusals.py; HTTP/2: test_cloudsim_h2.py; the PKI and `cloudsim -n`:
test_cloudsim_pki.py; the control plane: test_control.py.
"""

import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import tempfile
import time

import fixtures
from fixtures import (BYPASS, ENDPOINTS, HEAD_TIMEOUT_MS, LIST_PATH, Sim, connect, curl_gw, gw_conn,
		      inner_conn, openssl, pattern, tls_context)
from harness import Conn, check, test

# Other modules import this one as tcs for the cloudsim fixtures; the names below keep them working.
from fixtures import (SimEnv as Env, arcproxy_via, curl_via, proxy_details,  # noqa: F401
		      served, stop_others)

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.cloudsim_env()


def teardown(env):
	return fixtures.stop_cloudsim_env(env)


# --- the endpoint list and anonymous access ----------------------------------

@test
def endpoint_list_then_anonymous_tunnel(env):
	sim = env.sim
	with gw_conn(sim) as c:		# no client certificate
		c.request("GET", LIST_PATH, host="gw.cloudsim.test")
		r = c.read_response()
		check(r.status == 200, "GET %s: %r" % (LIST_PATH, r))
		check((r.header("content-type") or "").startswith("application/json"),
		      "content type %r" % r.header("content-type"))
		doc = json.loads(r.body)
		check(doc == {"endpoints": ENDPOINTS, "bypass": BYPASS, "refresh_seconds": 300},
		      "endpoint list %r differs from the config" % doc)
		# The same keep-alive connection then carries a CONNECT.
		r = c.connect_tunnel("management.cloudsim.test:443")
		check(r.status == 200, "anonymous CONNECT management.cloudsim.test:443: %r" % r)
		inner = inner_conn(sim, c, "management.cloudsim.test")
		inner.request("GET", "/hello?x=1", [("X-Probe", "yes")], host="management.cloudsim.test")
		r = inner.read_response()
		doc = r.json()
		check(r.status == 200 and doc["method"] == "GET" and doc["path"] == "/hello?x=1" and
		      doc["headers"].get("x-probe") == "yes", "echo through the anonymous tunnel: %r" % doc)


# --- tunnels with a machine certificate --------------------------------------

@test
def curl_tunnel_bytes_sha(env):
	sim = env.sim
	n = 1 << 20
	with tempfile.TemporaryDirectory(dir=sim.base) as d:
		body, head = os.path.join(d, "body"), os.path.join(d, "head")
		p = curl_gw(sim, "-D", head, "-o", body, "https://echo.cloudsim.test/bytes/%d" % n)
		check(p.returncode == 0, "curl exit %d: %s" % (p.returncode, p.stderr.decode().strip()))
		with open(body, "rb") as f:
			data = f.read()
		with open(head) as f:
			heads = f.read()
	check(len(data) == n, "got %d bytes, not %d" % (len(data), n))
	digest = hashlib.sha256(data).hexdigest()
	check(digest == hashlib.sha256(pattern(n)).hexdigest(), "the body is not the documented pattern")
	m = re.search(r"(?im)^x-sha256:\s*([0-9a-f]{64})", heads)
	check(m and m.group(1) == digest, "X-Sha256 %r, body %s" % (m and m.group(1), digest))
	check("200 Connection established" in heads, "no CONNECT answer in %r" % heads)
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 client=\S+ target=127\.0\.0\.1:%d "
			  r"status=200 up=\d+ down=(\d{7,})" % sim.echo_port),
	      "no tunnel log line with machine, target, status and bytes\n" + sim.stderr_tail())


@test
def curl_uploads_through_tunnel(env):
	sim = env.sim
	data = os.urandom(3 << 20)
	with tempfile.NamedTemporaryFile(dir=sim.base) as f:
		f.write(data)
		f.flush()
		p = curl_gw(sim, "--data-binary", "@" + f.name, "https://echo.cloudsim.test/upload")
		check(p.returncode == 0, "curl upload exit %d: %s" % (p.returncode, p.stderr.decode().strip()))
		doc = json.loads(p.stdout)
		check(doc == {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()},
		      "upload (Content-Length) answer %r" % doc)
		# -T - sends a chunked body.
		with open(f.name, "rb") as src:
			p = subprocess.run(["curl", "-sS", "--proxy", "https://gw.cloudsim.test:%d" % sim.gw_port,
					    "--proxy-cacert", sim.file("ca.crt"), "--proxy-cert", sim.file("m1.crt"),
					    "--proxy-key", sim.file("m1.key"),
					    "--resolve", "gw.cloudsim.test:%d:127.0.0.1" % sim.gw_port,
					    "--cacert", sim.file("ca.crt"),
					    "--resolve", "echo.cloudsim.test:443:127.0.0.1",
					    "-T", "-", "-X", "POST", "https://echo.cloudsim.test/anything"],
					   stdin=src, capture_output=True, timeout=30)
	check(p.returncode == 0, "curl chunked upload exit %d: %s" % (p.returncode, p.stderr.decode().strip()))
	doc = json.loads(p.stdout)
	check(doc["method"] == "POST" and doc["body_length"] == len(data) and
	      doc["body_sha256"] == hashlib.sha256(data).hexdigest() and
	      "chunked" in doc["headers"].get("transfer-encoding", ""),
	      "chunked upload reflected as %r" % {k: doc[k] for k in ("method", "body_length", "headers")})


# --- ALPN, and openssl as the client -------------------------------------------

@test
def alpn_follows_gateway_protocols(env):
	sim = env.sim
	for alpn, want in ((("h2",), "h2"), (("http/1.1", "h2"), "h2"), (("http/1.1",), "http/1.1"),
			   (None, None)):
		with gw_conn(sim, "m1", alpn=alpn) as c:
			got = c.sock.selected_alpn_protocol()
			check(got == want, "ALPN %r chose %r, not %r" % (alpn, got, want))
			if want != "h2":
				r = c.connect_tunnel("echo.cloudsim.test:443")
				check(r.status == 200, "CONNECT with ALPN %r: %r" % (alpn, r))
	try:
		gw_conn(sim, "m1", alpn=("spdy/3",)).close()
		raise AssertionError("a client offering only spdy/3 got through")
	except (ssl.SSLError, ConnectionResetError):
		pass
	check(sim.log_has(r'offers ALPN "spdy/3"; this gateway serves "h2,http/1\.1"'),
	      "the ALPN refusal is not logged\n" + sim.stderr_tail(5))
	# gateway.protocols = [ "http/1.1" ]: a client offering only h2 is refused.
	h1 = Sim()
	h1.pki, h1.protocols = sim.pki, ["http/1.1"]
	env.sims.append(h1)
	h1.write_config()
	h1.start()
	try:
		with gw_conn(h1, "m1", alpn=("h2",)) as c:
			c.request("GET", LIST_PATH, host="gw.cloudsim.test")
			r = c.read_response()
		raise AssertionError("an h2-only client got through an http/1.1 gateway: %r" % r)
	except (ssl.SSLError, ConnectionResetError, EOFError):
		pass
	check(h1.log_has(r'offers ALPN "h2"; this gateway serves "http/1\.1"'),
	      "the h2 refusal is not logged\n" + h1.stderr_tail(5))
	with gw_conn(h1, "m1", alpn=("h2", "http/1.1")) as c:
		check(c.sock.selected_alpn_protocol() == "http/1.1", "the http/1.1 gateway chose %r"
		      % c.sock.selected_alpn_protocol())
		check(c.connect_tunnel("echo.cloudsim.test:443").status == 200, "CONNECT on the http/1.1 gateway")
	check(h1.stop() == 0, "the http/1.1 gateway did not exit 0 on SIGTERM")


@test
def openssl_s_client(env):
	sim = env.sim
	req = "GET %s HTTP/1.1\r\nHost: gw.cloudsim.test\r\nConnection: close\r\n\r\n" % LIST_PATH
	r = openssl("s_client", "-connect", "127.0.0.1:%d" % sim.gw_port, "-servername", "gw.cloudsim.test",
		    "-verify_hostname", "gw.cloudsim.test", "-CAfile", sim.file("ca.crt"),
		    "-cert", sim.file("m1.crt"), "-key", sim.file("m1.key"), "-alpn", "http/1.1",
		    "-ign_eof", input=req)
	out = r.stdout
	check("Verify return code: 0 (ok)" in out, "s_client did not verify the gateway:\n%s" % out[-1500:])
	check("ALPN protocol: http/1.1" in out, "s_client: no ALPN http/1.1:\n%s" % out[-1500:])
	check('"refresh_seconds":300' in out, "s_client: no endpoint list in the answer:\n%s" % out[-800:])


# --- tunnel behaviour ---------------------------------------------------------

class TLSPipe:
	"""Client TLS over a raw socket through memory BIOs, so that one side can be shut alone."""

	def __init__(self, sim, cert="m1"):
		self.sock = socket.create_connection(("127.0.0.1", sim.gw_port), timeout=5)
		self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
		self.obj = tls_context(sim, cert).wrap_bio(self.inc, self.out, server_hostname="gw.cloudsim.test")
		self.io(self.obj.do_handshake)

	def io(self, fn, *args):
		for _ in range(10000):
			try:
				r = fn(*args)
				self.flush()
				return r
			except ssl.SSLWantReadError:
				self.flush()
				d = self.sock.recv(65536)
				if not d:
					self.inc.write_eof()
				else:
					self.inc.write(d)
		raise AssertionError("no progress")

	def flush(self):
		d = self.out.read()
		if d:
			self.sock.sendall(d)

	def read_all(self, limit=1 << 20):
		got = b""
		for _ in range(10000):
			try:
				d = self.io(self.obj.read, 65536)
			except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
				return got, True
			if not d:
				return got, True
			got += d
			if len(got) > limit:
				break
		return got, False

	def close(self):
		self.sock.close()


@test
def half_close_passes_both_ways(env):
	sim = env.sim
	t = TLSPipe(sim)
	try:
		t.io(t.obj.write, b"CONNECT half.cloudsim.test:443 HTTP/1.1\r\n\r\n")
		head = b""
		for _ in range(100):
			head += t.io(t.obj.read, 1)
			if head.endswith(b"\r\n\r\n"):
				break
		check(head.startswith(b"HTTP/1.1 200"), "CONNECT half.cloudsim.test: %r" % head)
		t.io(t.obj.write, b"hello")
		# close_notify: our side is done; we keep reading.
		try:
			t.obj.unwrap()
		except ssl.SSLWantReadError:
			pass
		t.flush()
		got, eof = t.read_all()
		check(got == b"got 5", "the target did not see our EOF after 5 bytes: %r" % got)
		check(eof, "the target's close did not reach us as EOF")
	finally:
		t.close()
	check(sim.log_has(r"connect half\.cloudsim\.test:443 .*status=200 up=5 down=5 "),
	      "the half-closed tunnel is not logged as a clean 5/5 bytes\n" + sim.stderr_tail())


@test
def idle_tunnel_outlives_head_timeout(env):
	sim = env.sim
	c, r = connect(sim, "echo.cloudsim.test:443")
	with c:
		check(r.status == 200, "CONNECT: %r" % r)
		inner = inner_conn(sim, c)
		time.sleep(HEAD_TIMEOUT_MS / 1000 + 1)
		inner.request("GET", "/bytes/100", host="echo.cloudsim.test")
		r = inner.read_response()
		check(r.status == 200 and r.body == pattern(100), "after an idle spell: %r" % r)


@test
def echo_service_directly(env):
	sim = env.sim
	ctx = ssl.create_default_context(cafile=sim.file("ca.crt"))
	c = Conn(sim.echo_port, 10)
	c.sock = ctx.wrap_socket(c.sock, server_hostname="echo.cloudsim.test")
	with c:
		body = b"x" * 70000
		steps = [
			("GET", "/", [], b"", 200),
			("POST", "/upload", [], body, 200),
			("HEAD", "/bytes/5000", [], b"", 200),
			("GET", "/bytes/0", [], b"", 200),
			("PUT", "/some/where", [("Transfer-Encoding", "chunked")],
			 b"5\r\nhello\r\n0\r\n\r\n", 200),
		]
		for method, path, headers, data, status in steps:
			c.request(method, path, headers, data, host="echo.cloudsim.test")
			r = c.read_response(method)
			check(r.status == status, "%s %s on one keep-alive connection: %r" % (method, path, r))
			if path == "/upload":
				check(r.json() == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()},
				      "upload answer %r" % r.body)
			if method == "HEAD":
				check(r.header("content-length") == "5000" and r.body == b"",
				      "HEAD /bytes/5000: %r" % r.head)
			if method == "PUT":
				doc = r.json()
				check(doc["body_length"] == 5 and doc["body_sha256"] == hashlib.sha256(b"hello").hexdigest(),
				      "chunked PUT reflected as %r" % doc)
		c.request("POST", "/bytes/10", [], b"", host="echo.cloudsim.test")
		r = c.read_response()
		check(r.status == 405, "POST /bytes/10: %r" % r)
