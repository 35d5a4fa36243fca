"""fixtures.py -- the programs that scenario modules start and share: cloudsim with its PKI,
arcproxy in gateway mode, Squid as the enterprise proxy or the gateway, himds with an identity.

A scenario module (test_*.py) builds its env from these in setup() and hands it back to the
matching stop function in teardown(); the stop functions return the problems they saw (a crash,
an exit status other than 0 on SIGTERM, a sanitizer report), as run.py expects of teardown.
"""

import grp
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import harness
from harness import Conn, Proxy, check, curl, free_port, origin, poll, std_routes, wait_port

# --- cloudsim: the gateway stand-in, the echo service and the PKI ----------------

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


def make_pki(sim, other=False):
	"""`cloudsim pki` and a machine certificate m1 in sim.pki; with other, a second CA in
	<base>/other that issued "rogue" (a certificate from another CA).  Returns the other dir."""
	other_dir = os.path.join(sim.base, "other")
	steps = [("pki", sim.pki), ("machine-cert", sim.pki, "m1")]
	if other:
		steps += [("pki", other_dir), ("machine-cert", other_dir, "rogue")]
	for args in steps:
		r = sim.run(*args)
		check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode,
									 r.stderr.strip()))
	return other_dir


class SimEnv:
	"""A module's env around one running cloudsim (env.sim) and what the tests add to it."""

	def __init__(self, sim):
		# run.py prints env.proxy's stderr tail when a test fails.
		self.proxy = self.sim = sim
		self.half = None
		self.proxies = []	# arcproxies (h2 clients) the tests started
		self.sims = []		# further cloudsims the tests started


def cloudsim_env(start=True, half=True):
	"""cloudsim with its PKI (m1, and "rogue" from another CA in <base>/other), started, and the
	half-close target (half.cloudsim.test) behind it."""
	sim = Sim()
	make_pki(sim, other=True)
	sim.write_config()
	env = SimEnv(sim.start() if start else sim)
	if half:
		env.half = HalfCloseServer(sim.half_port)
	return env


def stop_cloudsim_env(env):
	"""Stop what cloudsim_env started and what the tests added; returns the problems seen."""
	problems = stop_others(env)
	sim = env.sim
	if env.half:
		env.half.close()
	if sim.proc is None:		# never started
		if not problems:
			sim.cleanup()
		return problems
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



# --- clients of the gateway and the echo service ------------------------------------

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




def openssl(*args, input=None):
	return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input, timeout=20)
