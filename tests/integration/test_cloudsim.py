"""cloudsim: the gateway stand-in and the echo service (the control plane: test_control.py).

Expectations:
- `cloudsim pki DIR` makes a CA, a gateway certificate (gw.cloudsim.test, 127.0.0.1, serverAuth) and
  a services certificate (*.cloudsim.test), keys 0600, and keeps an existing CA when run again;
  `cloudsim machine-cert DIR NAME` issues a 90-day clientAuth certificate with CN=NAME.
- curl through the gateway as an HTTPS proxy (TLS to the gateway, CONNECT inside, TLS to echo inside
  that) with a machine certificate gets /bytes/N with the right length and X-Sha256, and uploads
  (Content-Length and chunked) hash to the right SHA-256.  The gateway logs one line per CONNECT.
- Without a machine certificate, or with one from another CA, CONNECT gets 403 "machine certificate
  required", while GET /.well-known/arc-gateway/endpoints answers the configured list and an
  anonymous destination tunnels on the same keep-alive connection.
- A destination off the list gets 403 (http_request_denied), a name not in the host table 502
  (destination_not_found), a dead target 502 (connection_refused).
- Garbage or an oversize head after the handshake gets 400 and a close; plain TCP bytes fail the
  handshake; after each the gateway serves the next client.
- ALPN follows gateway.protocols (default h2, then http/1.1): h2 when offered, http/1.1 when only it
  (or nothing) is offered; a gateway configured for http/1.1 only refuses a client offering only h2,
  with a log line, and picks http/1.1 from a client offering both.
- Over h2 (nghttp, and arcproxy with gateway.protocol "h2" as the CONNECT client): the same endpoint
  list, 404/405 and headers; tunnels whose bytes hash right both ways; the same refusals with the same
  Proxy-Status (403 without a certificate or off the list, 502 unknown host or dead target); the
  anonymous endpoint without a certificate; half-closes both ways (END_STREAM <-> FIN); one log line
  per tunnel with proto=h2.  An h2 connection without the preface (HTTP/1.1 bytes, or silence for
  head_timeout_ms) is closed, and the gateway serves on.
- Half-closes pass through a tunnel both ways; a tunnel idle longer than head_timeout_ms stays up.
- openssl s_client sees a verified chain and ALPN http/1.1.
- `cloudsim -n` names file and line of a broken config; SIGTERM exits 0 with no sanitizer report.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import harness
from harness import Conn, check, curl, free_port, poll, proxy_status_error, test, wait_port

CLOUDSIM = harness.BIN_DIR / "cloudsim"
ENDPOINTS = ["*.cloudsim.test:443", "echo.cloudsim.test:443"]
BYPASS = ["bypass.cloudsim.test:443"]
ANONYMOUS = ["management.cloudsim.test:443"]
LIST_PATH = "/.well-known/arc-gateway/endpoints"
HEAD_TIMEOUT_MS = 1500


def pattern(n):
	"""What /bytes/N sends: bytes 0..255 repeated."""
	return (bytes(range(256)) * (n // 256 + 1))[:n]


class Sim(harness.Daemon):
	"""cloudsim on a generated config, with its PKI, in a temp dir."""

	name = "cloudsim"

	def __init__(self):
		self.base = tempfile.mkdtemp(prefix="cloudsim-", dir=harness.tmp_root())
		os.chmod(self.base, 0o755)
		self.user = harness._run_as()
		if self.user:
			os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
		self.pki = os.path.join(self.base, "pki")
		self.conf_dir = os.path.join(self.base, "conf")
		self.state_dir = os.path.join(self.base, "state")
		os.mkdir(self.conf_dir)
		os.mkdir(self.state_dir)
		if self.user:
			os.chown(self.state_dir, self.user.pw_uid, self.user.pw_gid)
		self.stderr_path = os.path.join(self.base, "stderr.log")
		self.gw_port = free_port()
		self.echo_port = free_port()
		self.dead_port = free_port()	# nobody listens here
		self.half_port = free_port()	# the half-close server below
		self.control_port = free_port()	# control.listen
		self.operator_port = free_port()	# control.operator_listen
		self.control = {}		# more control.* settings (test_control.py)
		# Where management.cloudsim.test goes: the echo service (a stand-in
		# anonymous endpoint for the gateway tests) or the control plane.
		self.management = "echo"
		self.protocols = None		# gateway.protocols; None = the default
		self.proc = None

	def _kw(self):
		if not self.user:
			return {}
		return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

	def run(self, *args, timeout=20):
		return subprocess.run([str(CLOUDSIM), *args], capture_output=True, text=True,
				      timeout=timeout, **self._kw())

	def settings(self):
		s = {
			"pki_dir": self.pki,
			"gateway": {
				"listen": "127.0.0.1:%d" % self.gw_port,
				"endpoints": ENDPOINTS,
				"bypass": BYPASS,
				"anonymous": ANONYMOUS,
				"refresh_seconds": 300,
				"head_timeout_ms": HEAD_TIMEOUT_MS,
			},
			"echo": {"listen": "127.0.0.1:%d" % self.echo_port},
			"control": dict({"listen": "127.0.0.1:%d" % self.control_port,
					 "operator_listen": "127.0.0.1:%d" % self.operator_port}, **self.control),
			"hosts": [
				{"name": "echo.cloudsim.test", "target": "127.0.0.1:%d" % self.echo_port},
				{"name": "management.cloudsim.test", "target": "127.0.0.1:%d" % (
					self.control_port if self.management == "control" else self.echo_port)},
				{"name": "dead.cloudsim.test", "target": "127.0.0.1:%d" % self.dead_port},
				{"name": "half.cloudsim.test", "target": "127.0.0.1:%d" % self.half_port},
			],
		}
		if self.protocols is not None:
			s["gateway"]["protocols"] = list(self.protocols)
		return s

	def write_config(self, conf_dir=None, text=None):
		path = os.path.join(conf_dir or self.conf_dir, "cloudsim.conf")
		with open(path, "w") as f:
			f.write(text if text is not None else harness.conf_text(self.settings()))
		os.chmod(path, 0o644)
		return path

	def start(self):
		if not CLOUDSIM.exists():
			raise AssertionError("cloudsim binary not found: %s (make, or set ARC_BIN)" % CLOUDSIM)
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen([str(CLOUDSIM), "-d", "-v", "--config-dir", self.conf_dir,
					      "--state-dir", self.state_dir], stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file, **self._kw())
		for port in (self.gw_port, self.echo_port, self.control_port, self.operator_port):
			if not wait_port(port, 5, self.proc):
				rc = self.proc.poll()
				self.kill()
				raise AssertionError("cloudsim did not listen on %d (exit %s)\n%s"
						     % (port, rc, self.stderr_tail()))
		return self

	def cleanup(self):
		self.kill()
		try:
			self.stderr_file.close()
		except AttributeError:
			pass
		if not harness.KEEP:
			shutil.rmtree(self.base, ignore_errors=True)

	def file(self, name, pki=None):
		return os.path.join(pki or self.pki, name)


class Env:
	def __init__(self, sim):
		# run.py prints env.proxy's stderr tail when a test fails.
		self.proxy = self.sim = sim
		self.half = None
		self.proxies = []	# arcproxies (h2 clients) the tests started
		self.sims = []		# further cloudsims the tests started


def setup():
	sim = Sim()
	for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1"),
		     ("pki", os.path.join(sim.base, "other")),
		     ("machine-cert", os.path.join(sim.base, "other"), "rogue")):
		r = sim.run(*args)
		check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode,
									 r.stderr.strip()))
	sim.write_config()
	env = Env(sim.start())
	env.half = HalfCloseServer(sim.half_port)
	return env


def teardown(env):
	problems = stop_others(env)
	sim = env.sim
	if env.half:
		env.half.close()
	crashed = sim.proc.poll()
	if crashed is not None:
		problems.append("cloudsim had already exited with status %s" % crashed)
	rc = sim.stop()
	if crashed is None and rc != 0:
		problems.append("cloudsim exited %s on SIGTERM\n%s" % (rc, sim.stderr_tail()))
	rep = sim.sanitizer_report()
	if rep:
		problems.append("sanitizer: %s\n%s" % (rep, sim.stderr_tail(40)))
	if not problems:
		sim.cleanup()
	return problems


def stop_others(env):
	"""Stop the arcproxies and extra cloudsims a module started; returns the problems seen."""
	problems = []
	for p in env.proxies:
		if p.proc is None:
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
	for sim in env.sims:
		crashed = sim.proc.poll() if sim.proc else None
		if crashed not in (None, 0, -signal.SIGKILL):
			problems.append("cloudsim %s had exited with status %s" % (sim.base, crashed))
		rc = sim.stop()
		if crashed is None and rc not in (0, None):
			problems.append("cloudsim %s exited %s on SIGTERM\n%s" % (sim.base, rc, sim.stderr_tail()))
		rep = sim.sanitizer_report()
		if rep:
			problems.append("cloudsim sanitizer: %s\n%s" % (rep, sim.stderr_tail(40)))
	if not problems and not harness.KEEP:
		for p in env.proxies:
			p.cleanup()
		for sim in env.sims:
			sim.cleanup()
	return problems


# --- clients ---------------------------------------------------------------

def tls_context(sim, cert=None, alpn=("http/1.1",), pki=None):
	ctx = ssl.create_default_context(cafile=sim.file("ca.crt"))
	if cert:
		ctx.load_cert_chain(sim.file(cert + ".crt", pki), sim.file(cert + ".key", pki))
	if alpn:
		ctx.set_alpn_protocols(list(alpn))
	return ctx


def gw_conn(sim, cert=None, alpn=("http/1.1",), pki=None, timeout=5.0):
	"""A harness.Conn whose socket is TLS to the gateway."""
	c = Conn(sim.gw_port, timeout)
	c.sock = tls_context(sim, cert, alpn, pki).wrap_socket(c.sock, server_hostname="gw.cloudsim.test")
	return c


class InnerTLS:
	"""TLS inside a tunnel that itself runs in TLS: a socket-like object for harness.Conn."""

	def __init__(self, outer, ctx, hostname, pending=b""):
		self.outer = outer
		self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
		self.inc.write(pending)		# tunnel bytes the outer reader already took
		self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=hostname)
		self._io(self.obj.do_handshake)

	def _io(self, fn, *args):
		for _ in range(100000):
			try:
				r = fn(*args)
				self._flush()
				return r
			except ssl.SSLWantReadError:
				self._flush()
				d = self.outer.recv(262144)
				if d:
					self.inc.write(d)
				else:
					self.inc.write_eof()
		raise AssertionError("inner TLS makes no progress")

	def _flush(self):
		d = self.out.read()
		if d:
			self.outer.sendall(d)

	def sendall(self, data):
		self._io(self.obj.write, data)

	def recv(self, n):
		try:
			return self._io(self.obj.read, n)
		except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
			return b""

	def settimeout(self, t):
		self.outer.settimeout(t)

	def close(self):
		self.outer.close()


def inner_conn(sim, outer, hostname="echo.cloudsim.test"):
	"""A harness.Conn speaking TLS to hostname through the tunnel on outer."""
	c = Conn.__new__(Conn)
	c.buf = b""
	c.sock = InnerTLS(outer.sock, ssl.create_default_context(cafile=sim.file("ca.crt")), hostname,
			  outer.buf)
	outer.buf = b""
	return c


def curl_gw(sim, *args, cert="m1", pki=None, timeout=30):
	"""curl with the gateway as its HTTPS proxy and echo.cloudsim.test resolved locally."""
	base = ["--proxy", "https://gw.cloudsim.test:%d" % sim.gw_port,
		"--proxy-cacert", sim.file("ca.crt"),
		"--resolve", "gw.cloudsim.test:%d:127.0.0.1" % sim.gw_port,
		"--cacert", sim.file("ca.crt"),
		"--resolve", "echo.cloudsim.test:443:127.0.0.1"]
	if cert:
		base += ["--proxy-cert", sim.file(cert + ".crt", pki), "--proxy-key", sim.file(cert + ".key", pki)]
	return curl(*base, *args, timeout=timeout)


def connect(sim, authority, cert="m1", pki=None):
	"""CONNECT on a fresh TLS connection: (conn, response)."""
	c = gw_conn(sim, cert, pki=pki)
	return c, c.connect_tunnel(authority)


def served(sim, what):
	"""The gateway is alive and hands out its endpoint list."""
	check(sim.alive(), "cloudsim exited %s (status %s)" % (what, sim.proc.returncode))
	with gw_conn(sim) as c:
		c.request("GET", LIST_PATH, host="gw.cloudsim.test")
		r = c.read_response()
	check(r.status == 200 and json.loads(r.body)["endpoints"] == ENDPOINTS,
	      "the gateway does not serve its list %s: %r" % (what, r))


def arcproxy_via(env, protocol="h2", cert="m1", pki=None, sim=None, gateway_port=None, routes=(),
		 name="arcproxy", workers=1, start=True):
	"""arcproxy in gateway mode whose gateway is sim (or gateway_port on loopback), with
	agent.conf gateway.protocol set and the machine certificate cert (None: no identity);
	stopped by teardown.  routes: rules before the gateway's endpoint list."""
	sim = sim or env.sim
	p = harness.Proxy(routes=routes, hosts=[{"name": "gw.cloudsim.test", "address": "127.0.0.1"}],
			  workers=workers, name=name)
	p.settings.pop("default_route")
	p.write_config()
	ca = os.path.join(p.conf_dir, "ca.crt")
	shutil.copy(sim.file("ca.crt"), ca)
	os.chmod(ca, 0o644)
	p.write_agent_conf('connection = { type = "gateway"; };\n'
			   'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt"; protocol = "%s"; };\n'
			   % (gateway_port or sim.gw_port, protocol))
	if cert:
		for ext in ("crt", "key"):
			dst = os.path.join(p.identity_dir, "machine." + ext)
			shutil.copy(sim.file(cert + "." + ext, pki), dst)
			os.chmod(dst, 0o600 if ext == "key" else 0o644)
			if p.user:
				os.chown(dst, p.user.pw_uid, p.user.pw_gid)
	env.proxies.append(p)
	return p.start() if start else p


def curl_via(p, sim, *args, timeout=30):
	"""curl through arcproxy p, trusting sim's CA for the services behind the gateway."""
	return curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", sim.file("ca.crt"), *args, timeout=timeout)


def proxy_details(resp):
	"""The details parameter of a response's Proxy-Status."""
	m = re.search(r'details="([^"]*)"', resp.header("proxy-status") or "")
	return m.group(1) if m else ""


def nghttp(sim, path, *args, cert="m1"):
	"""nghttp -v to the gateway: (status, {header: value}, body text)."""
	cmd = ["nghttp", "-v", *args]
	if cert:
		cmd += ["--cert", sim.file(cert + ".crt"), "--key", sim.file(cert + ".key")]
	p = subprocess.run(cmd + ["https://127.0.0.1:%d%s" % (sim.gw_port, path)], capture_output=True,
			   text=True, timeout=20)
	heads = dict(re.findall(r"recv \(stream_id=13\) ([^:\s][^:]*|:status): (.*)", p.stdout))
	status = int(heads.pop(":status", "0"))
	# The body comes unframed; the next verbose line may follow it on the same line.
	body = "\n".join(re.sub(r"\[\s*\d+\.\d+\] .*", "", line) for line in p.stdout.splitlines()
			 if not line.startswith(("[", " ", "The negotiated protocol")))
	return status, heads, body.strip()


class HalfCloseServer:
	"""A plain TCP target: reads until EOF, answers "got N", then closes."""

	def __init__(self, port):
		self.sock = socket.socket()
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind(("127.0.0.1", port))
		self.sock.listen(8)
		self.sock.settimeout(0.5)
		self.stop = False
		self.thread = threading.Thread(target=self._run, daemon=True)
		self.thread.start()

	def _run(self):
		for _ in range(100000):
			if self.stop:
				return
			try:
				s, _ = self.sock.accept()
			except OSError:
				continue
			with s:
				s.settimeout(5)
				n = 0
				try:
					for _ in range(10000):
						d = s.recv(65536)
						if not d:
							break
						n += len(d)
					s.sendall(b"got %d" % n)
				except OSError:
					pass

	def close(self):
		self.stop = True
		self.thread.join(2)
		self.sock.close()


# --- the PKI ---------------------------------------------------------------

def openssl(*args, input=None):
	return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input, timeout=20)


@test
def pki_files_and_idempotence(env):
	sim = env.sim
	for name in ("ca", "gateway", "services", "m1"):
		check(os.path.exists(sim.file(name + ".crt")), "no %s.crt" % name)
		mode = os.stat(sim.file(name + ".key")).st_mode & 0o777
		check(mode == 0o600, "%s.key has mode %o, not 600" % (name, mode))
	with open(sim.file("ca.crt"), "rb") as f:
		ca_before = f.read()
	r = sim.run("pki", sim.pki)
	check(r.returncode == 0 and "exists" in r.stdout, "pki on an existing CA: %d %r %r"
	      % (r.returncode, r.stdout, r.stderr))
	with open(sim.file("ca.crt"), "rb") as f:
		check(f.read() == ca_before, "pki without --force replaced the CA")
	r = openssl("verify", "-CAfile", sim.file("ca.crt"), "-purpose", "sslserver",
		    sim.file("gateway.crt"), sim.file("services.crt"))
	check(r.returncode == 0, "server certificates do not verify: %s" % (r.stdout + r.stderr))
	r = openssl("x509", "-in", sim.file("gateway.crt"), "-noout", "-ext", "subjectAltName,basicConstraints")
	check("DNS:gw.cloudsim.test" in r.stdout and "IP Address:127.0.0.1" in r.stdout,
	      "gateway SAN: %r" % r.stdout)
	r = openssl("x509", "-in", sim.file("services.crt"), "-noout", "-ext", "subjectAltName")
	check("DNS:*.cloudsim.test" in r.stdout and "DNS:cloudsim.test" in r.stdout,
	      "services SAN: %r" % r.stdout)
	r = openssl("x509", "-in", sim.file("ca.crt"), "-noout", "-ext", "basicConstraints")
	check("CA:TRUE" in r.stdout, "ca.crt is not a CA: %r" % r.stdout)
	r = openssl("x509", "-in", sim.file("m1.crt"), "-noout", "-subject", "-ext", "extendedKeyUsage")
	check("CN = m1" in r.stdout and "Client Authentication" in r.stdout, "m1.crt: %r" % r.stdout)
	r = openssl("verify", "-CAfile", sim.file("ca.crt"), "-purpose", "sslclient", sim.file("m1.crt"))
	check(r.returncode == 0, "m1.crt does not verify as a client: %s" % (r.stdout + r.stderr))
	check(openssl("x509", "-in", sim.file("m1.crt"), "-noout", "-checkend", str(89 * 86400)).returncode == 0,
	      "m1.crt expires within 89 days")
	check(openssl("x509", "-in", sim.file("m1.crt"), "-noout", "-checkend", str(91 * 86400)).returncode != 0,
	      "m1.crt is valid for more than 90 days")
	r = sim.run("machine-cert", sim.pki, "../escape")
	check(r.returncode != 0 and not os.path.exists(os.path.join(sim.base, "escape.crt")),
	      "machine-cert accepted a name with a slash")


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


# --- refusals ---------------------------------------------------------------

@test
def no_certificate_gets_403(env):
	sim = env.sim
	p = curl_gw(sim, "-o", os.devnull, "-w", "%{http_connect}", "https://echo.cloudsim.test/bytes/10", cert=None)
	check(p.returncode != 0 and p.stdout.decode() == "403",
	      "curl without a machine certificate: exit %d, CONNECT %r" % (p.returncode, p.stdout))
	c, r = connect(sim, "echo.cloudsim.test:443", cert=None)
	with c:
		check(r.status == 403, "CONNECT without a certificate: %r" % r)
		check(b"machine certificate required" in r.body, "403 body %r" % r.body)
		check(proxy_status_error(r) == "http_request_denied", "Proxy-Status %r" % r.header("proxy-status"))
		check(c.at_eof(), "the connection stays open after the 403")
	served(sim, "after a refused CONNECT")


@test
def certificate_from_another_ca_is_no_identity(env):
	sim = env.sim
	other = os.path.join(sim.base, "other")
	c, r = connect(sim, "echo.cloudsim.test:443", cert="rogue", pki=other)
	with c:
		check(r.status == 403, "CONNECT with another CA's certificate: %r" % r)
		check(b"machine certificate required" in r.body, "403 body %r" % r.body)
	check(sim.log_has(r"client certificate refused"), "the refused certificate is not logged")
	p = curl_gw(sim, "-o", os.devnull, "-w", "%{http_connect}", "https://echo.cloudsim.test/", cert="rogue",
		    pki=other)
	check(p.stdout.decode() == "403", "curl with another CA's certificate: CONNECT %r" % p.stdout)


@test
def destinations_off_the_list_get_403(env):
	sim = env.sim
	for dest in ("example.com:443", "echo.cloudsim.test:8443", "cloudsim.test:443"):
		c, r = connect(sim, dest)
		with c:
			check(r.status == 403, "CONNECT %s: %r" % (dest, r))
			check(proxy_status_error(r) == "http_request_denied",
			      "CONNECT %s: Proxy-Status %r" % (dest, r.header("proxy-status")))
			check(b"endpoint list" in r.body, "CONNECT %s: body %r" % (dest, r.body))


@test
def unknown_host_and_dead_target_get_502(env):
	sim = env.sim
	for dest, token in (("nohost.cloudsim.test:443", "destination_not_found"),
			    ("dead.cloudsim.test:443", "connection_refused")):
		c, r = connect(sim, dest)
		with c:
			check(r.status == 502, "CONNECT %s: %r" % (dest, r))
			check(proxy_status_error(r) == token, "CONNECT %s: Proxy-Status %r, want %s"
			      % (dest, r.header("proxy-status"), token))
	check(sim.log_has(r"connect dead\.cloudsim\.test:443 .*status=502.*error=connection_refused"),
	      "the refused tunnel is not logged")


@test
def bad_requests_get_400_and_the_gateway_serves_on(env):
	sim = env.sim
	cases = [("garbage", b"\x00\x01\x02 this is not http\r\n\r\n"),
		 ("oversize head", b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"),
		 ("CONNECT without a port", b"CONNECT echo.cloudsim.test HTTP/1.1\r\n\r\n")]
	for what, data in cases:
		with gw_conn(sim, "m1") as c:
			c.send(data)
			r = c.read_response()
			check(r.status == 400, "%s: %r" % (what, r))
			check(c.at_eof(), "%s: the connection stays open after 400" % what)
		served(sim, "after %s" % what)


@test
def plain_tcp_fails_the_handshake_only(env):
	sim = env.sim
	with Conn(sim.gw_port, 5) as c:
		c.send(b"GET / HTTP/1.1\r\nHost: gw.cloudsim.test\r\n\r\n")
		try:
			data = c.read_to_eof(limit=4096)
		except ConnectionResetError:
			data = b""
		check(b"HTTP/1.1" not in data, "plain HTTP got an HTTP answer: %r" % data)
	check(sim.log_has(r"TLS handshake failed"), "the failed handshake is not logged")
	p = curl_gw(sim, "-o", os.devnull, "-w", "%{http_code}", "https://echo.cloudsim.test/bytes/1000")
	check(p.returncode == 0 and p.stdout.decode() == "200", "a tunnel after a bad handshake: %r %r"
	      % (p.stdout, p.stderr))


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


# --- HTTP/2 -------------------------------------------------------------------

@test
def h2_endpoint_list_with_nghttp(env):
	sim = env.sim
	for cert in ("m1", None):
		status, heads, body = nghttp(sim, LIST_PATH, cert=cert)
		check(status == 200, "nghttp GET %s (certificate %s): status %d" % (LIST_PATH, cert, status))
		check(heads.get("content-type", "").startswith("application/json") and
		      heads.get("cache-control") == "max-age=300", "h2 list headers %r" % heads)
		check(json.loads(body) == {"endpoints": ENDPOINTS, "bypass": BYPASS, "refresh_seconds": 300},
		      "h2 endpoint list %r" % body)
		check(int(heads.get("content-length", -1)) == len(body), "content-length %r for %d bytes"
		      % (heads.get("content-length"), len(body)))
	status, heads, body = nghttp(sim, LIST_PATH + "?x=1", "-H", ":method: HEAD")
	check(status == 200 and body == "" and int(heads.get("content-length", 0)) > 0,
	      "HEAD over h2: %d %r %r" % (status, heads, body))
	status, heads, body = nghttp(sim, LIST_PATH, "-H", ":method: POST", "-d", "/dev/null")
	check(status == 405 and heads.get("allow") == "GET, HEAD", "POST over h2: %d %r" % (status, heads))
	status, _, body = nghttp(sim, "/elsewhere")
	check(status == 404, "another path over h2: %d %r" % (status, body))
	check(sim.log_has(r"ALPN h2, machine m1"), "no h2 handshake in the log")


@test(timeout=40)
def h2_tunnels_through_arcproxy(env):
	sim = env.sim
	p = arcproxy_via(env, "h2", name="h2client")
	n = 1 << 20
	with tempfile.TemporaryDirectory(dir=sim.base) as d:
		body, head = os.path.join(d, "body"), os.path.join(d, "head")
		r = curl_via(p, sim, "-D", head, "-o", body, "https://echo.cloudsim.test/bytes/%d" % n)
		check(r.returncode == 0, "curl via arcproxy (h2): exit %d: %s\n%s" % (
			r.returncode, r.stderr.decode(errors="replace").strip(), p.stderr_tail(8)))
		with open(body, "rb") as f:
			data = f.read()
		with open(head) as f:
			heads = f.read()
		check(data == pattern(n), "%d bytes over an h2 stream differ from the pattern" % len(data))
		m = re.search(r"(?im)^x-sha256:\s*([0-9a-f]{64})", heads)
		check(m and m.group(1) == hashlib.sha256(data).hexdigest(), "X-Sha256 over h2 differs")
		up = os.urandom(3 << 20)
		with open(body, "wb") as f:
			f.write(up)
		r = curl_via(p, sim, "--data-binary", "@" + body, "https://echo.cloudsim.test/upload")
	check(r.returncode == 0 and json.loads(r.stdout) == {"length": len(up),
							      "sha256": hashlib.sha256(up).hexdigest()},
	      "upload over h2: exit %d %r" % (r.returncode, r.stdout[:200]))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 client=\S+ target=127\.0\.0\.1:%d "
			  r"status=200 up=\d+ down=\d{7,} ms=\d+ proto=h2$" % sim.echo_port),
	      "no h2 tunnel log line\n" + sim.stderr_tail(6))
	check(sim.log_has(r"status=200 up=\d{7,} down=\d+ ms=\d+ proto=h2$"), "no h2 upload log line")
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2") == 1 and
	      harness.metric_sum(m, "arcproxy_gateway_connections", protocol="http/1.1") == 0,
	      "arcproxy's gateway connections: %r" % {k: v for k, v in m.items() if "gateway_conn" in k[0]})
	check(harness.metric_sum(m, "arcproxy_gateway_streams_total") >= 2, "streams_total < 2")
	check(harness.poll(lambda: harness.metric_sum(p.metrics(), "arcproxy_gateway_streams_open") == 0),
	      "streams stay open after the transfers")


@test(timeout=40)
def h2_refusals_match_http11(env):
	sim = env.sim
	everything = [{"match": "*", "route": "gateway"}]	# off-list names reach the gateway too
	p = arcproxy_via(env, "h2", routes=everything, name="h2refuse")
	cases = [("example.com:443", 403, "http_request_denied", "destination not on the endpoint list"),
		 ("echo.cloudsim.test:8443", 403, "http_request_denied", "destination not on the endpoint list"),
		 ("nohost.cloudsim.test:443", 502, "destination_not_found", "unknown host"),
		 ("dead.cloudsim.test:443", 502, "connection_refused", "target refused the connection")]
	for dest, status, token, why in cases:
		with Conn(p.port, 10) as c:
			r = c.connect_tunnel(dest)
		want = "%d cloudsim-gateway; error=%s; details='%s'" % (status, token, why)
		check(r.status == status and want in proxy_details(r),
		      "CONNECT %s over h2: %r, Proxy-Status %r lacks %r" % (dest, r, r.header("proxy-status"), want))
		check(sim.log_has(r"connect %s machine=m1 .*status=%d .*proto=h2 error=%s"
				  % (re.escape(dest), status, token)), "no h2 log line for %s" % dest)
	anon = arcproxy_via(env, "h2", cert=None, routes=everything, name="h2anon")
	with Conn(anon.port, 10) as c:
		r = c.connect_tunnel("echo.cloudsim.test:443")
	check(r.status == 403 and "machine certificate required" in proxy_details(r),
	      "CONNECT without a machine certificate over h2: %r %r" % (r, r.header("proxy-status")))
	r = curl_via(anon, sim, "-o", "-", "https://management.cloudsim.test/bytes/1000")
	check(r.returncode == 0 and r.stdout == pattern(1000), "the anonymous endpoint over h2: exit %d %s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip()))
	check(sim.log_has(r"connect management\.cloudsim\.test:443 machine=- .*status=200 .*proto=h2"),
	      "the anonymous h2 tunnel is not logged")
	served(sim, "after refusals over h2")


@test
def h2_half_close_both_ways(env):
	sim = env.sim
	p = env.proxies[0] if env.proxies else arcproxy_via(env, "h2", name="h2half")
	with Conn(p.port, 10) as c:
		r = c.connect_tunnel("half.cloudsim.test:443")
		check(r.status == 200, "CONNECT half.cloudsim.test over h2: %r" % r)
		c.send(b"hello")
		c.shutdown_wr()		# END_STREAM on the stream, then a FIN to the target
		got = c.read_to_eof(limit=100)
	check(got == b"got 5", "the target's answer after our half-close: %r" % got)
	check(sim.log_has(r"connect half\.cloudsim\.test:443 .*status=200 up=5 down=5 ms=\d+ proto=h2$"),
	      "the half-closed h2 tunnel is not logged as a clean 5/5\n" + sim.stderr_tail(5))


@test
def h2_bad_or_missing_preface_closes(env):
	sim = env.sim
	with gw_conn(sim, "m1", alpn=("h2",)) as c:
		c.send(b"GET / HTTP/1.1\r\nHost: gw.cloudsim.test\r\n\r\n")	# not the h2 preface
		c.settimeout(3)
		try:
			data = c.read_to_eof(limit=4096)
		except (ConnectionResetError, ssl.SSLError):
			data = b""
		check(b"HTTP/1.1" not in data, "HTTP/1.1 on an h2 connection got an HTTP/1.1 answer: %r" % data)
	t0 = time.monotonic()
	with gw_conn(sim, "m1", alpn=("h2",)) as c:
		c.settimeout(HEAD_TIMEOUT_MS / 1000 + 2)
		try:
			c.read_to_eof(limit=4096)	# our SETTINGS, then the close
		except (ConnectionResetError, ssl.SSLError):
			pass
		except socket.timeout:
			raise AssertionError("a silent h2 connection stays open")
	dt = time.monotonic() - t0
	check(dt >= HEAD_TIMEOUT_MS / 1000 - 0.3, "a silent h2 connection was closed after %.1fs, before "
	      "head_timeout_ms" % dt)
	check(sim.log_has(r"no HTTP/2 preface within %d ms" % HEAD_TIMEOUT_MS), "the silent client is not logged")
	served(sim, "after bad h2 prefaces")


# --- configuration -------------------------------------------------------------

@test
def check_flag_names_file_and_line(env):
	sim = env.sim
	r = sim.run("-n", "--config-dir", sim.conf_dir)
	check(r.returncode == 0 and "configuration OK" in r.stdout, "-n on the running config: %d %r %r"
	      % (r.returncode, r.stdout, r.stderr))
	d = tempfile.mkdtemp(dir=sim.base)
	os.chmod(d, 0o755)
	cases = [
		("syntax error", 4, 'pki_dir = "%s";\ngateway = {\n  listen = "127.0.0.1:1";\n'
		 '  refresh_seconds = ;\n};\n' % sim.pki),
		("bad pattern", 3, 'pki_dir = "%s";\ngateway = {\n  endpoints = [ "*.x.test:99999" ];\n};\n' % sim.pki),
		("unknown key", 2, 'pki_dir = "%s";\nechoo = { listen = "127.0.0.1:1"; };\n' % sim.pki),
		("bad host target", 3, 'pki_dir = "%s";\nhosts = (\n  { name = "a.cloudsim.test"; target = "nowhere"; }\n);\n'
		 % sim.pki),
	]
	for what, line, text in cases:
		sim.write_config(conf_dir=d, text=text)
		r = sim.run("-n", "--config-dir", d)
		out = r.stdout + r.stderr
		check(r.returncode != 0, "-n on a config with a %s: exit 0" % what)
		check("cloudsim.conf" in out, "-n (%s) does not name the file: %r" % (what, out.strip()))
		check(re.search(r":%d\b" % line, out), "-n (%s) does not name line %d: %r" % (what, line, out.strip()))
	sim.write_config(conf_dir=d, text='pki_dir = "%s";\ngateway = {\n  protocols = [ "h2", "h3" ];\n};\n'
			 % sim.pki)
	r = sim.run("-n", "--config-dir", d)
	check(r.returncode != 0 and re.search(r'cloudsim\.conf:3:.*"h3" is not one of', r.stderr),
	      "-n with an unknown protocol: %d %r" % (r.returncode, r.stderr))
	sim.write_config(conf_dir=d, text='pki_dir = "%s";\n' % os.path.join(d, "nopki"))
	r = sim.run("-n", "--config-dir", d)
	check(r.returncode != 0 and "cloudsim pki" in r.stderr, "-n with a missing PKI: %d %r"
	      % (r.returncode, r.stderr))
