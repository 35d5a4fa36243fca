"""fixtures.py -- the programs that scenario modules start and share: cloudsim with its PKI,
arcproxy in gateway mode, Squid as the enterprise proxy or the gateway, himds with an identity.

A scenario module (test_*.py) builds its env from these in setup() and hands it back to the
matching stop function in teardown(); the stop functions return the problems they saw (a crash,
an exit status other than 0 on SIGTERM, a sanitizer report), as run.py expects of teardown.
"""

import fcntl
import grp
import hashlib
import http.client
import http.server
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import struct
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
		self.packages_port = free_port()	# packages.listen (packages.cloudsim.test)
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
			"packages": {"listen": "127.0.0.1:%d" % self.packages_port},
			"hosts": [
				{"name": "echo.cloudsim.test", "target": "127.0.0.1:%d" % self.echo_port},
				{"name": "management.cloudsim.test", "target": "127.0.0.1:%d" % (
					self.control_port if self.management == "control" else self.echo_port)},
				{"name": "dead.cloudsim.test", "target": "127.0.0.1:%d" % self.dead_port},
				{"name": "half.cloudsim.test", "target": "127.0.0.1:%d" % self.half_port},
				{"name": "packages.cloudsim.test", "target": "127.0.0.1:%d" % self.packages_port},
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
		for port in (self.gw_port, self.echo_port, self.control_port, self.operator_port,
			     self.packages_port):
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


def stop_problems(d, what, killed_ok=False):
	"""SIGTERM daemon d (a harness.Daemon) and return what went wrong: it had exited already
	(with killed_ok, a SIGKILL or a clean exit by a test is fine), it did not exit 0 on SIGTERM,
	or it left a sanitizer report.  Not started, or stopped and judged by a test (d.stopped on
	an arcproxy): nothing to say."""
	if d.proc is None or (isinstance(d, Proxy) and getattr(d, "stopped", False)):
		return []
	out = []
	crashed = d.proc.poll()
	if crashed is not None and not (killed_ok and crashed in (0, -signal.SIGKILL)):
		out.append("%s %s had exited with status %s\n%s" % (what, d.base, crashed, d.stderr_tail()))
	rc = d.stop()
	if crashed is None and rc not in (0, None):
		out.append("%s %s exited %s on SIGTERM\n%s" % (what, d.base, rc, d.stderr_tail()))
	rep = d.sanitizer_report()
	if rep:
		out.append("%s sanitizer: %s\n%s" % (what, rep, d.stderr_tail(40)))
	return out


_pki_lock = threading.Lock()
_pki_base = None	# the run's PKI, made once: <base>/pki and <base>/other


def shared_pki():
	"""The directory holding the run's PKI, made on first use: pki/ from `cloudsim pki` with the
	machine certificate m1, and other/, a second CA that issued "rogue".  Every module copies it
	rather than paying for the key generations again."""
	global _pki_base
	with _pki_lock:
		if _pki_base is None and os.environ.get("ARC_SHARED_PKI"):
			_pki_base = os.environ["ARC_SHARED_PKI"]	# made by run.py for all its modules
		if _pki_base is None:
			maker = Sim()	# never started: its base dir is one the daemons' user can write
			other = os.path.join(maker.base, "other")
			for args in (("pki", maker.pki), ("machine-cert", maker.pki, "m1"),
				     ("pki", other), ("machine-cert", other, "rogue")):
				r = maker.run(*args)
				check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode,
											 r.stderr.strip()))
			_pki_base = maker.base
	return _pki_base


def copy_tree(src, dst, user=None):
	"""A copy of src at dst with its modes, owned by user (a pwd entry) if given."""
	shutil.copytree(src, dst)
	if user:
		for root, dirs, files in os.walk(dst):
			for name in [root] + [os.path.join(root, n) for n in dirs + files]:
				os.chown(name, user.pw_uid, user.pw_gid)


def make_pki(sim, other=False):
	"""sim.pki as `cloudsim pki` and `cloudsim machine-cert DIR m1` make it; with other, a
	second CA in <base>/other that issued "rogue" (a certificate from another CA).  Copies of
	shared_pki().  Returns the other dir."""
	src = shared_pki()
	other_dir = os.path.join(sim.base, "other")
	copy_tree(os.path.join(src, "pki"), sim.pki, sim.user)
	if other:
		copy_tree(os.path.join(src, "other"), other_dir, sim.user)
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
	problems += stop_problems(sim, "cloudsim")
	if not problems:
		sim.cleanup()
	return problems


def stop_others(env):
	"""Stop the arcproxies and extra cloudsims a module started; returns the problems seen."""
	problems = []
	for p in env.proxies:
		problems += stop_problems(p, "arcproxy")
	for sim in env.sims:
		problems += stop_problems(sim, "cloudsim", killed_ok=True)
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
		try:
			self.sock.shutdown(socket.SHUT_RDWR)	# wakes the accept at once
		except OSError:
			pass
		self.thread.join(2)
		self.sock.close()


def openssl(*args, input=None):
	return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input, timeout=20)


# --- the gateway route: cloudsim as arcproxy's gateway, the test origin behind it ----

GW_ENDPOINTS = ["*.cloudsim.test:443", "plain.cloudsim.test:80"]
GW_BYPASS = ["bypass.cloudsim.test"]
# arcproxy's hosts table: the gateway's name, and names that a direct route would look up
# (all on loopback, so the SSRF guard refuses them on the direct route: no DNS wait).
GW_HOSTS = [{"name": n, "address": "127.0.0.1"} for n in
	    ("gw.cloudsim.test", "bypass.cloudsim.test", "origin.test")]
SQUID = shutil.which("squid") or "/usr/sbin/squid"
REPLY_BOUND_S = 2.0	# a request while the gateway is down is answered within this


def pattern_sha(n):
	"""SHA-256 of what echo's /bytes/N sends (0,1,..,255 repeated), without holding it all."""
	h = hashlib.sha256()
	block = bytes(range(256)) * 4096
	left = n
	for _ in range(n // len(block) + 1):
		if left <= 0:
			break
		h.update(block[:left])
		left -= len(block)
	return h.hexdigest()


class GwSim(Sim):
	"""cloudsim with plain.cloudsim.test (the origin's plain HTTP port) on its list and a bypass list."""

	def __init__(self, plain_port, pki=None):
		super().__init__()
		self.plain_port = plain_port
		if pki:
			self.pki = pki

	def settings(self):
		s = super().settings()
		s["gateway"]["endpoints"] = GW_ENDPOINTS
		s["gateway"]["bypass"] = GW_BYPASS
		s["hosts"].append({"name": "plain.cloudsim.test", "target": "127.0.0.1:%d" % self.plain_port})
		return s

	def start(self):
		try:
			self.stderr_file.close()	# a restart opens it again
		except AttributeError:
			pass
		return super().start()


class Squid:
	"""A real Squid on loopback: the enterprise proxy (http_port) or an HTTPS proxy (https_port)."""

	def __init__(self, name, ports, tls=None, names=("gw.cloudsim.test", "origin.test", "bypass.cloudsim.test")):
		"""ports: the CONNECT ports its ACL allows; tls: (cert, key) for an https_port;
		names: what its hosts file puts on 127.0.0.1."""
		self.dir = tempfile.mkdtemp(prefix="squid-%s-" % name, dir=harness.tmp_root())
		os.chmod(self.dir, 0o755)
		self.port = free_port()
		self.user = None
		if os.geteuid() == 0:
			try:
				self.user = pwd.getpwnam("proxy")	# Debian's cache_effective_user
			except KeyError:
				self.user = pwd.getpwnam("nobody")
			os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
		self.conf = os.path.join(self.dir, "squid.conf")
		self.access_path = os.path.join(self.dir, "access.log")
		self.cache_path = os.path.join(self.dir, "cache.log")
		self.stderr_path = os.path.join(self.dir, "stderr.log")
		hosts = os.path.join(self.dir, "hosts")
		with open(hosts, "w") as f:
			f.write("127.0.0.1 %s\n" % " ".join(names))
		lines = []
		if tls:
			cert, key = (os.path.join(self.dir, n) for n in ("tls.crt", "tls.key"))
			shutil.copy(tls[0], cert)
			shutil.copy(tls[1], key)
			os.chmod(key, 0o600)
			if self.user:
				for p in (cert, key):
					os.chown(p, self.user.pw_uid, self.user.pw_gid)
			lines.append("https_port 127.0.0.1:%d tls-cert=%s tls-key=%s" % (self.port, cert, key))
		else:
			lines.append("http_port 127.0.0.1:%d" % self.port)
		lines += [
			"workers 1",
			"acl tunnel_ports port %s" % " ".join(str(p) for p in ports),
			"http_access allow CONNECT tunnel_ports",
			"http_access deny all",
			"cache deny all",
			"cache_mem 0 MB",
			"hosts_file %s" % hosts,
			"dns_nameservers 127.0.0.1",
			"access_log stdio:%s squid" % self.access_path,
			"cache_log %s" % self.cache_path,
			"cache_store_log none",
			"pid_filename %s/squid.pid" % self.dir,
			"coredump_dir %s" % self.dir,
			"shutdown_lifetime 0 seconds",
			"logfile_rotate 0",
			"pinger_enable off",
			"buffered_logs off",
		]
		with open(self.conf, "w") as f:
			f.write("# generated by tests/integration/fixtures.py\n" + "\n".join(lines) + "\n")
		os.chmod(self.conf, 0o644)
		self.proc = None

	def start(self):
		if not os.path.exists(SQUID):
			raise harness.Skip("squid is not installed")
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen([SQUID, "-N", "-f", self.conf], stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file)
		if not wait_port(self.port, 10, self.proc):
			rc = self.proc.poll()
			self.stop()
			raise AssertionError("squid did not listen on %d (exit %s)\n%s" % (self.port, rc, self.log_tail()))
		return self

	def stop(self):
		if self.proc is None:
			return
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait(5)
		try:
			self.stderr_file.close()
		except AttributeError:
			pass

	def _read(self, path):
		try:
			with open(path, "rb") as f:
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	def access_log(self):
		return self._read(self.access_path)

	def log_tail(self, n=15):
		lines = (self._read(self.cache_path) + self._read(self.stderr_path)).splitlines()
		return "\n".join(["--- squid logs (%s), last %d lines:" % (self.dir, n)] + lines[-n:])

	def saw(self, regex, timeout=3.0):
		return poll(lambda: re.search(regex, self.access_log(), re.M), timeout=timeout)


def gw_proxy(env, name, sim=None, cert="m1", cert_pki=None, ca=None, proxy_url=None,
	     default_route=None, gateway_port=None, protocol=None, start=True):
	"""An arcproxy in gateway mode against sim (or gateway_port), registered for teardown.
	protocol: agent.conf gateway.protocol ("http/1.1", "h2"); unset is "auto"."""
	sim = sim or env.sim
	p = Proxy(routes=std_routes(env.origin), hosts=GW_HOSTS, name=name)
	p.settings.pop("default_route")
	if default_route:
		p.settings["default_route"] = default_route
	p.write_config()
	shutil.copy(ca or sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
	os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
	text = ('connection = { type = "gateway"; };\n'
		'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt";%s };\n'
		% (gateway_port or sim.gw_port, ' protocol = "%s";' % protocol if protocol else ""))
	if proxy_url:
		text += 'proxy = { url = "%s"; };\n' % proxy_url
	p.write_agent_conf(text)
	if cert:
		for ext in ("crt", "key"):
			dst = os.path.join(p.identity_dir, "machine." + ext)
			shutil.copy(sim.file(cert + "." + ext, cert_pki), dst)
			os.chmod(dst, 0o600 if ext == "key" else 0o644)
			if p.user:
				os.chown(dst, p.user.pw_uid, p.user.pw_gid)
	env.proxies.append(p)
	if start:
		p.start()
	return p


def stop_proxy(p):
	"""SIGTERM an arcproxy before teardown: it must exit 0 with no sanitizer report."""
	check(p.alive(), "arcproxy %s had exited with status %s" % (p.base, p.proc.returncode))
	rc = p.stop()
	p.stopped = True
	check(rc == 0, "arcproxy %s exited %s on SIGTERM\n%s" % (p.base, rc, p.stderr_tail()))
	rep = p.sanitizer_report()
	check(not rep, "arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))


def log_entries(p, regex, timeout=3.0, count=1):
	"""Access-log lines whose text matches regex, split into fields (polls: the log is buffered)."""
	def get():
		out = []
		for line in p.access_log_lines():
			if re.search(regex, line):
				f = line.split(" ")
				out.append({"line": line, "method": f[2], "target": f[3], "route": f[4],
					    "status": int(f[5]), "up": int(f[6]), "down": int(f[7]),
					    "error": f[9] if len(f) > 9 else ""})
		return out if len(out) >= count else None
	return poll(get, timeout=timeout, interval=0.1) or []


def one_entry(p, regex, what):
	e = log_entries(p, regex)
	check(e, "no access-log line for %s (/%s/) in %s:\n%s" % (what, regex, p.access_log_path(),
								  "\n".join(p.access_log_lines()[-8:])))
	return e[-1]


def timed_connect(p, authority, timeout=5.0):
	"""CONNECT through arcproxy: (response, seconds it took)."""
	t0 = time.monotonic()
	with Conn(p.port, timeout) as c:
		r = c.connect_tunnel(authority)	# reads the body of a refusal too
	return r, time.monotonic() - t0


def echo_get(p, sim, path="/bytes/1000", host="echo.cloudsim.test", timeout=10):
	"""GET path from echo through a CONNECT tunnel via arcproxy, TLS to echo inside."""
	c = Conn(p.port, timeout)
	try:
		r = c.connect_tunnel("%s:443" % host)
		if r.status != 200:
			return r
		inner = inner_conn(sim, c, host)
		inner.request("GET", path, [("Connection", "close")], host=host)
		return inner.read_response()
	finally:
		c.close()


def sim_up(env):
	"""The module's cloudsim still runs (else every gateway test would fail with 'refused')."""
	sim = env.sim
	check(sim.alive(), "cloudsim (%s) is not running: exit status %s\n%s"
	      % (sim.base, sim.proc.returncode, sim.stderr_tail(10)))


def curl_echo(p, sim, *args, timeout=60):
	return curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", sim.file("ca.crt"), *args,
		    timeout=timeout)


def metric(p, name, **labels):
	return harness.metric_sum(p.metrics(), name, **labels)


def healthz(p):
	status, _, body = p.admin_get("/healthz")
	return status, json.loads(body)


PROTOCOLS = ((None, "protocol auto"), ("http/1.1", "protocol http/1.1"))


class GwEnv:
	"""A module's env around cloudsim as the gateway in front of the test origin."""

	def __init__(self):
		self.origin = origin()
		self.sim = None
		self.sims = []
		self.proxy = None	# the main arcproxy (gateway.protocol unset), else the gateway;
				# run.py prints its stderr when a test fails
		self.h1 = None		# the same with gateway.protocol = "http/1.1": a nested CONNECT per TLS connection
		self.baselines = {}	# arcproxy -> its fd count after the first tunnel, settled
		self.proxies = []
		self.squids = []
		self.squid = None	# the enterprise proxy
		self.other = None	# the other PKI: another CA, and a machine cert it issued


def gateway_env(main=False, h1=False, baselines=False):
	"""cloudsim (GwSim) with the machine certificate m1 and another CA's "rogue" (env.other),
	started.  main: the main arcproxy (env.proxy, gateway.protocol unset); h1: another held to
	HTTP/1.1 (env.h1); each after a first tunnel, which fetches the endpoint list.  baselines:
	their fd counts once the gateway has dropped its idle connections (env.baselines)."""
	env = GwEnv()
	o = env.origin
	try:
		sim = env.sim = GwSim(o.http_port)
		env.sims.append(sim)
		env.other = make_pki(sim, other=True)
		sim.write_config()
		sim.start()
		env.proxy = sim
		if main:
			env.proxy = gw_proxy(env, "gateway")
		if h1:
			env.h1 = gw_proxy(env, "gatewayh1", protocol="http/1.1")
		mains = [p for p in (env.proxy, env.h1) if isinstance(p, Proxy)]
		for p in mains:
			# The first tunnel fetches the endpoint list and opens what is opened lazily.
			r = echo_get(p, sim, "/bytes/10")
			check(r.status == 200, "first tunnel through the gateway: %r" % r)
		if baselines:
			time.sleep(HEAD_TIMEOUT_MS / 1000 + 0.5)
			for p in mains:
				env.baselines[p] = settle_fds(p)
	except BaseException:
		stop_gateway_env(env)
		raise
	return env


def settle_fds(p, timeout=6.0):
	"""The fd count once it stops changing (the gateway drops idle connections after its head timeout)."""
	counts = []
	for _ in range(int(timeout / 0.25)):
		counts.append(p.fd_count())
		if len(counts) >= 4 and len(set(counts[-4:])) == 1:
			break
		time.sleep(0.25)
	return counts[-1]


def stop_gateway_env(env):
	"""Stop what gateway_env started and what the tests added; returns the problems seen."""
	problems = []
	for p in env.proxies:
		problems += stop_problems(p, "arcproxy")
	for s in env.squids:
		s.stop()
	for sim in env.sims:
		problems += stop_problems(sim, "cloudsim", killed_ok=True)
	if not problems and not harness.KEEP:
		for p in env.proxies:
			p.cleanup()
		for s in env.squids:
			shutil.rmtree(s.dir, ignore_errors=True)
		for sim in env.sims:
			sim.cleanup()
	return problems


def enterprise_squid(env):
	"""The shared enterprise proxy: CONNECT allowed to the gateway and the origin's ports only."""
	if env.squid is None:
		o = env.origin
		sq = Squid("enterprise", [env.sim.gw_port, o.tls_port, o.http_port])
		env.squids.append(sq)
		env.squid = sq.start()
	return env.squid


# --- a local user's stand-in for a local API ----------------------------------------

class JsonStandIn:
	"""What any local user can put on himds's port or arcproxy's admin port while the daemon is
	down: an HTTP server on 127.0.0.1:port answering every GET with the JSON of doc (the
	attribute, changeable). Stops with close(), or as a context manager."""

	def __init__(self, port, doc):
		self.doc = doc
		stand_in = self

		class Handler(http.server.BaseHTTPRequestHandler):
			def do_GET(self):
				body = json.dumps(stand_in.doc).encode()
				self.send_response(200)
				self.send_header("Content-Type", "application/json")
				self.send_header("Content-Length", str(len(body)))
				self.end_headers()
				self.wfile.write(body)

			def log_message(self, *args):
				pass

		self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
		threading.Thread(target=self.srv.serve_forever, daemon=True).start()

	def close(self):
		self.srv.shutdown()
		self.srv.server_close()

	def __enter__(self):
		return self

	def __exit__(self, *exc):
		self.close()


# --- himds with a machine identity, and arcproxy in the arc group --------------------

HIMDS = harness.BIN_DIR / "himds"
ROOT = os.geteuid() == 0
CLOUD_URL = "https://management.cloudsim.test"
RESOURCE = "https://management.azure.com/"


# --- users and groups --------------------------------------------------------

class users_lock:
	"""Held while adding users and groups: modules that run side by side (run.py) may both
	find one missing."""

	def __enter__(self):
		self.f = open("/run/lock/arc-it-users.lock" if os.path.isdir("/run/lock") else
			      os.path.join(harness.port_dir(), "users.lock"), "a")
		fcntl.flock(self.f, fcntl.LOCK_EX)
		return self

	def __exit__(self, *exc):
		self.f.close()


def ensure_users():
	"""As root: group arc (the identity files' group) and user himds in it, as an install makes them."""
	if not ROOT:
		return
	with users_lock():
		_ensure_users()


def _ensure_users():
	try:
		grp.getgrnam("arc")
	except KeyError:
		subprocess.run(["groupadd", "--system", "arc"], check=True)
	try:
		pwd.getpwnam("himds")
	except KeyError:
		subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
				"/usr/sbin/nologin", "-G", "arc", "himds"], check=True)
	if "himds" not in grp.getgrnam("arc").gr_mem:
		subprocess.run(["usermod", "-a", "-G", "arc", "himds"], check=True)


def share_state_dir(path):
	"""The installed layout of a state dir: root:root 0755 when root, written only by root; each
	daemon writes in its own subdirectory (arcproxy's is made here for the arcproxy that the
	harness runs as an unprivileged user, as tmpfiles.d would; himds makes its own)."""
	if ROOT:
		os.chown(path, 0, 0)
		os.chmod(path, 0o755)
		own = os.path.join(path, "arcproxy")
		os.makedirs(own, exist_ok=True)
		user = harness._run_as()
		if user:
			os.chown(own, user.pw_uid, user.pw_gid)


def identity_dir(state_dir):
	"""<state>/himds, where machine.key, machine.crt and himds.json live: himds:arc 0750 when root."""
	d = os.path.join(state_dir, "himds")
	os.makedirs(d, exist_ok=True)
	if ROOT:
		os.chown(d, pwd.getpwnam("himds").pw_uid, grp.getgrnam("arc").gr_gid)
		os.chmod(d, 0o750)
	return d


def put_file(path, data, mode):
	with open(path, "wb") as f:
		f.write(data.encode() if isinstance(data, str) else data)
	os.chmod(path, mode)
	if ROOT:
		os.chown(path, 0, grp.getgrnam("arc").gr_gid)


class ArcProxy(Proxy):
	"""arcproxy as the harness runs it, plus the arc group: it reads the machine key."""

	def _popen_kw(self):
		kw = super()._popen_kw()
		if ROOT and "user" in kw:
			kw["extra_groups"] = [grp.getgrnam("arc").gr_gid]
		return kw


# --- himds under test ----------------------------------------------------------

class Himds(harness.Daemon):
	name = "himds"

	def __init__(self, name="himds", state_dir=None, **settings):
		self.base = tempfile.mkdtemp(prefix=name + "-", dir=harness.tmp_root())
		os.chmod(self.base, 0o755)
		self.conf_dir = os.path.join(self.base, "conf")
		os.mkdir(self.conf_dir)
		self.state_dir = state_dir or os.path.join(self.base, "state")
		self.run_dir = os.path.join(self.base, "run")	# root's 0755, as /run/arc
		os.mkdir(self.run_dir)
		if not state_dir:
			os.mkdir(self.state_dir)
			share_state_dir(self.state_dir)
		self.port = free_port()
		self.settings = {"listen": ["127.0.0.1:%d" % self.port], "proxy": "http://127.0.0.1:9"}
		self.settings.update(settings)
		self.stderr_path = os.path.join(self.base, "stderr.log")
		self.proc = None
		self.stopped = False	# a test stopped it on purpose
		self.write_config()

	def write_config(self, text=None):
		path = os.path.join(self.conf_dir, "himds.conf")
		with open(path, "w") as f:
			f.write(text if text is not None else harness.conf_text(self.settings))
		os.chmod(path, 0o644)

	def command(self, *args):
		return [str(HIMDS), *args, "--config-dir", self.conf_dir, "--state-dir", self.state_dir,
			"--run-dir", self.run_dir]

	def start(self):
		if not HIMDS.exists():
			raise AssertionError("himds binary not found: %s (make, or set ARC_BIN)" % HIMDS)
		self.stderr_file = open(self.stderr_path, "ab")
		# As root, himds drops to user himds itself.
		self.proc = subprocess.Popen(self.command("-d", "-v"), stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file)
		if not wait_port(self.port, 5, self.proc):
			rc = self.proc.poll()
			self.kill()
			raise AssertionError("himds did not listen on %d (exit %s)\n%s"
					     % (self.port, rc, self.stderr_tail()))
		return self

	def signal(self, sig):
		self.proc.send_signal(sig)

	def stop(self, timeout=10):
		if self.proc is None:
			return None
		self.stopped = True
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				self.kill()
		return self.proc.returncode

	def status_file(self):
		try:
			with open(os.path.join(self.state_dir, "himds", "himds.json")) as f:
				return json.load(f)
		except (OSError, ValueError):
			return {}

	def token_dir(self):
		return os.path.join(self.run_dir, "tokens")

	def url(self, path):
		return "http://127.0.0.1:%d%s" % (self.port, path)

	def problems(self):
		"""SIGTERM: exit 0, pid file and key files gone, no sanitizer report."""
		out = []
		if self.proc is None:
			return out
		crashed = self.proc.poll()
		if crashed is not None and not self.stopped:
			out.append("himds %s had exited with status %s\n%s" % (self.base, crashed, self.stderr_tail()))
		rc = self.stop()
		if crashed is None and rc != 0:
			out.append("himds %s exited %s on SIGTERM\n%s" % (self.base, rc, self.stderr_tail()))
		# As root the pid file is root's, in root's run dir: the dropped himds cannot remove it.
		if crashed is None and not ROOT and os.path.exists(os.path.join(self.run_dir, "himds.pid")):
			out.append("himds %s left its pid file" % self.base)
		if crashed is None and os.path.isdir(self.token_dir()) and \
		   [n for n in os.listdir(self.token_dir()) if n.endswith(".key")]:
			out.append("himds %s left key files: %s" % (self.base, os.listdir(self.token_dir())))
		rep = self.sanitizer_report()
		if rep:
			out.append("himds sanitizer: %s\n%s" % (rep, self.stderr_tail(40)))
		return out

	def cleanup(self):
		self.kill()
		try:
			self.stderr_file.close()
		except AttributeError:
			pass
		if not harness.KEEP:
			shutil.rmtree(self.base, ignore_errors=True)


def api(h, path, headers=None, method="GET"):
	"""One request to himds: (status, {lower-case header: value}, parsed JSON or raw bytes)."""
	c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=15)
	try:
		c.request(method, path, headers=headers or {})
		r = c.getresponse()
		body = r.read()
		hdrs = {k.lower(): v for k, v in r.getheaders()}
	finally:
		c.close()
	try:
		return r.status, hdrs, json.loads(body)
	except ValueError:
		return r.status, hdrs, body


MD = {"Metadata": "true"}
INSTANCE = "/metadata/instance?api-version=2020-06-01"
MD_ENDPOINTS = "/metadata/endpoints?api-version=2019-11-01"
TOKEN = "/metadata/identity/oauth2/token?api-version=2020-06-01&resource=" + \
	urllib.request.quote(RESOURCE, safe="")


def realm_path(www_authenticate):
	"""The key file a 401 names, parsed as Azure's SDK does: split on '='."""
	check(www_authenticate and www_authenticate.startswith("Basic realm="),
	      "WWW-Authenticate is %r, not 'Basic realm=<path>'" % www_authenticate)
	return www_authenticate.split("=")[1]


def read_key(path):
	with open(path) as f:
		return f.read()


def curl_himds(h, path, *args):
	"""curl (no proxy) at himds: (status, headers, body text)."""
	p = curl("--noproxy", "*", "-i", *args, h.url(path), timeout=30)
	check(p.returncode == 0, "curl %s: exit %d: %s" % (path, p.returncode, p.stderr.decode(errors="replace")))
	return parse_curl_i(p.stdout.decode("utf-8", "replace"))


def parse_curl_i(out):
	head, _, body = out.partition("\r\n\r\n")
	lines = head.split("\r\n")
	status = int(lines[0].split()[1])
	hdrs = {}
	for line in lines[1:]:
		k, _, v = line.partition(":")
		hdrs[k.strip().lower()] = v.strip()
	return status, hdrs, body


def curl_token(h, resource_path=TOKEN):
	"""The challenge as a script does it with curl: 401, read the key file, retry."""
	status, hdrs, _ = curl_himds(h, resource_path, "-H", "Metadata: true")
	check(status == 401, "first token request: %d, expected 401" % status)
	key_path = realm_path(hdrs.get("www-authenticate"))
	key = read_key(key_path)
	status, hdrs, body = curl_himds(h, resource_path, "-H", "Metadata: true",
					"-H", "Authorization: Basic %s" % key)
	return status, hdrs, body, key_path, key


def urllib_token(h, resource_path=TOKEN):
	"""The same with Python's urllib, as azure-identity's Arc credential does."""
	opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
	req = urllib.request.Request(h.url(resource_path), headers=MD)
	try:
		opener.open(req, timeout=15)
		raise AssertionError("urllib: the first token request was not refused")
	except urllib.error.HTTPError as e:
		check(e.code == 401, "urllib: first token request: %d, expected 401" % e.code)
		key_path = realm_path(e.headers.get("WWW-Authenticate"))
	req = urllib.request.Request(h.url(resource_path), headers=dict(
		MD, Authorization="Basic " + read_key(key_path)))
	try:
		with opener.open(req, timeout=30) as r:
			return r.status, json.loads(r.read()), key_path
	except urllib.error.HTTPError as e:
		return e.code, json.loads(e.read() or b"{}"), key_path


def machine_json(resource, ca_file, interval=None):
	doc = {"resource": resource, "cloudUrl": CLOUD_URL, "caFile": ca_file,
	       "connectedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
	if interval:
		doc["heartbeatIntervalSeconds"] = interval
	return json.dumps(doc, indent=2)


LOCAL_RESOURCE = {
	"resourceId": "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-it/"
		      "providers/Microsoft.HybridCompute/machines/m1",
	"subscriptionId": "00000000-1111-2222-3333-444444444444", "resourceGroupName": "rg-it",
	"tenantId": "55555555-6666-7777-8888-999999999999", "location": "westeurope", "name": "m1",
	"vmId": "0b3c2a5e-7c1e-4f7a-9d55-3f0c8c3a1b2d", "tags": {"env": "prod", "team": "ops"},
}


def put_ca(sim, state_dir):
	"""The cloud's CA beside the identity, where himds (its own user) can read it."""
	path = os.path.join(state_dir, "ca.crt")
	put_file(path, read_key(sim.file("ca.crt")), 0o644)
	return path


def put_local_identity(sim, state_dir):
	"""machine.key/.crt from `cloudsim machine-cert` and a machine.json (no cloud behind it)."""
	own = identity_dir(state_dir)
	put_file(os.path.join(own, "machine.key"), read_key(sim.file("m1.key")), 0o640)
	put_file(os.path.join(own, "machine.crt"), read_key(sim.file("m1.crt")), 0o644)
	put_file(os.path.join(state_dir, "machine.json"),
		 machine_json(LOCAL_RESOURCE, put_ca(sim, state_dir), 60), 0o644)

class HimdsEnv:
	"""A module's env around himds: the PKI, arcproxy in front of the cloud, the himdses."""

	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail on failure
		self.sim = None		# the PKI (and, for the cloud tests, the control plane)
		self.arcproxy = None	# plain arcproxy: refuses the heartbeat's CONNECT (SSRF guard)
		self.local = None	# himds with an identity and no cloud behind it
		self.empty = None	# himds without an identity
		self.himdses = []
		self.proxies = []
		self.sims = []
		self.cloud = None	# the cloud part (test_himds_cloud.py)
		self.cloud_error = None
		self.trap = None	# the empty himds's "proxy": a socket nobody should reach


def himds_env(local=False, empty=False):
	"""The users himds and arc (as root) and a PKI with the machine certificate m1 (env.sim, not
	started).  local: himds on that identity (env.local, heartbeat every second) behind a plain
	arcproxy (env.arcproxy), which refuses its CONNECT to the cloud; empty: himds without an
	identity (env.empty) whose proxy is a socket nobody should reach (env.trap)."""
	env = HimdsEnv()
	try:
		ensure_users()
		sim = env.sim = Sim()
		env.sims.append(sim)
		make_pki(sim)
		if local:
			env.arcproxy = ArcProxy(hosts=[{"name": "management.cloudsim.test", "address": "127.0.0.1"}],
						name="himds-arcproxy")
			env.proxies.append(env.arcproxy)
			env.arcproxy.start()
			env.local = new_himds(env, "himds-local", proxy="http://127.0.0.1:%d" % env.arcproxy.port,
					      heartbeat_interval_seconds=1)
			put_local_identity(sim, env.local.state_dir)
			env.local.start()
		if empty:
			env.trap = socket.socket()
			env.trap.bind(("127.0.0.1", 0))
			env.trap.listen(8)
			env.trap.setblocking(False)
			env.empty = new_himds(env, "himds-empty",
					      proxy="http://127.0.0.1:%d" % env.trap.getsockname()[1])
			env.empty.start()
		env.proxy = env.local or env.empty
	except BaseException:
		stop_himds_env(env)
		raise
	return env


def new_himds(env, name, **settings):
	h = Himds(name, **settings)
	env.himdses.append(h)
	return h


def stop_himds_env(env):
	"""Stop what himds_env started and what the tests added; returns the problems seen."""
	problems = []
	if env.trap:
		env.trap.close()
	for h in env.himdses:
		problems += h.problems()
	for p in env.proxies:
		problems += stop_problems(p, "arcproxy")
	for sim in env.sims:
		problems += stop_problems(sim, "cloudsim")
	if not problems and not harness.KEEP:
		for h in env.himdses:
			h.cleanup()
		for p in env.proxies:
			p.cleanup()
		for sim in env.sims:
			sim.cleanup()
	return problems


def up(h):
	check(h.alive(), "himds %s exited with status %s\n%s" % (h.base, h.proc.returncode, h.stderr_tail()))


# --- HTTP/2 to the gateway: cloudsim with misbehaving targets behind it ---------------

NGHTTPX = shutil.which("nghttpx") or "/usr/sbin/nghttpx"


class Target:
	"""A TCP target: "stall" accepts and never reads; "reset" resets after the first byte;
	"finfirst" sends its FIN at once, then reads slowly to EOF and records the byte count."""

	def __init__(self, mode):
		self.mode = mode
		self.port = free_port()
		self.sock = socket.socket()
		self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		self.sock.bind(("127.0.0.1", self.port))
		self.sock.listen(16)
		self.sock.settimeout(0.2)
		self.held = []
		self.counts = []	# finfirst: bytes read on each connection
		self.stop = False
		self.thread = threading.Thread(target=self._run, daemon=True)
		self.thread.start()

	def _run(self):
		for _ in range(1000000):
			if self.stop:
				return
			try:
				s, _ = self.sock.accept()
			except OSError:
				continue
			if self.mode == "stall":
				self.held.append(s)
				continue
			if self.mode == "finfirst":
				threading.Thread(target=self._slow_read, args=(s,), daemon=True).start()
				continue
			try:
				s.settimeout(5)
				s.recv(1)
			except OSError:
				pass
			s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			s.close()

	def _slow_read(self, s):
		n = 0
		with s:
			s.shutdown(socket.SHUT_WR)
			s.settimeout(10)
			try:
				for _ in range(1 << 20):
					d = s.recv(65536)
					if not d:
						break
					n += len(d)
					time.sleep(0.005)
			except OSError:
				n = -n - 1
		self.counts.append(n)

	def release(self):
		"""Start reading (and discarding) on the connections held so far, each until its EOF."""
		held, self.held = self.held, []
		for s in held:
			threading.Thread(target=self._drain, args=(s,), daemon=True).start()

	@staticmethod
	def _drain(s):
		with s:
			s.settimeout(10)
			try:
				for _ in range(1 << 20):
					if not s.recv(1 << 20):
						return
			except OSError:
				pass

	def drop(self):
		"""Reset the connections held so far."""
		held, self.held = self.held, []
		for s in held:
			s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			s.close()

	def close(self):
		self.stop = True
		self.thread.join(2)
		self.drop()
		self.sock.close()


class H2Sim(Sim):
	"""cloudsim with the misbehaving targets in its host table."""

	def __init__(self, targets, pki=None):
		super().__init__()
		self.targets = targets
		if pki:
			self.pki = pki

	def settings(self):
		s = super().settings()
		for name, t in self.targets.items():
			s["hosts"].append({"name": "%s.cloudsim.test" % name, "target": "127.0.0.1:%d" % t.port})
		return s

	def start(self):
		try:
			self.stderr_file.close()	# a restart opens it again
		except AttributeError:
			pass
		return super().start()


class H2Env:
	"""A module's env around cloudsim (H2Sim) and the arcproxies with gateway.protocol "h2"."""

	def __init__(self):
		self.sim = None
		self.sims = []		# stop_others stops these and self.proxies
		self.proxies = []
		self.proxy = None	# the main arcproxy, else the gateway (run.py prints its stderr on failures)
		self.targets = {}
		self.squids = []
		self.procs = []		# further programs a test started (nghttpx)
		self.ctx = None		# trusts the sim's CA: TLS to echo inside tunnels


def h2_env(main=True):
	"""The misbehaving targets (stall, reset, finfirst), cloudsim in front of them with the
	machine certificate m1, started; with main, the main arcproxy (h2) after a first tunnel."""
	env = H2Env()
	try:
		env.targets = {"stall": Target("stall"), "reset": Target("reset"),
			       "finfirst": Target("finfirst")}
		sim = env.sim = env.proxy = H2Sim(env.targets)
		make_pki(sim)
		sim.write_config()
		sim.start()
		env.ctx = ssl.create_default_context(cafile=sim.file("ca.crt"))
		if main:
			env.proxy = arcproxy_via(env, "h2", name="h2main")
			r = poll(lambda: download(env, 1000), timeout=5)
			check(r == pattern(1000), "first tunnel over h2: %r" % r)
	except BaseException:
		stop_h2_env(env)
		raise
	return env


def stop_h2_env(env):
	"""Stop what h2_env started and what the tests added; returns the problems seen."""
	for proc in env.procs:
		harness.terminate(proc, 5)
	for sq in env.squids:
		sq.stop()
	problems = stop_others(env)
	for t in env.targets.values():
		t.close()
	if env.sim is not None:
		problems += stop_problems(env.sim, "cloudsim")
		if not problems:
			env.sim.cleanup()
			for sq in env.squids:
				shutil.rmtree(sq.dir, ignore_errors=True)
	return problems


# --- clients of arcproxy's h2 tunnels --------------------------------------------------

def open_tunnel(p, dest="echo.cloudsim.test:443", timeout=20):
	"""A CONNECT tunnel through arcproxy p: the Conn, after a 200."""
	c = Conn(p.port, timeout)
	r = c.connect_tunnel(dest)
	if r.status != 200:
		c.close()
		raise AssertionError("CONNECT %s: %r %s" % (dest, r, r.header("proxy-status")))
	return c


def tls_inside(env, c, host="echo.cloudsim.test"):
	"""TLS to host inside the tunnel c (echo speaks first only after our hello: buf is empty)."""
	check(c.buf == b"", "bytes before the TLS hello: %r" % c.buf[:40])
	c.sock = env.ctx.wrap_socket(c.sock, server_hostname=host)
	return c


def download(env, n, p=None, host="echo.cloudsim.test", port=443):
	"""GET /bytes/n from echo through a fresh tunnel: the body."""
	with tls_inside(env, open_tunnel(p or env.proxy, "%s:%d" % (host, port)), host) as c:
		c.request("GET", "/bytes/%d" % n, [("Connection", "close")], host=host)
		r = c.read_response()
		finish(c)
	check(r.status == 200, "GET /bytes/%d: %r" % (n, r))
	return r.body


def finish(c):
	"""Read to the end (echo's close_notify and EOF): closing with unread bytes would be a reset."""
	check(c.read_to_eof(limit=1 << 16) == b"", "bytes after the response")


def abort(c):
	"""Close with a reset, as a client that vanishes does."""
	c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
	c.close()


def parallel(count, fn, timeout=60):
	"""Run fn(i) in count threads; returns (seconds, [error or None])."""
	errors = [None] * count

	def run(i):
		try:
			fn(i)
		except BaseException as e:	# reported by the caller
			errors[i] = "%s: %s" % (type(e).__name__, e)
	threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
	t0 = time.monotonic()
	for t in threads:
		t.start()
	for t in threads:
		t.join(max(0.1, timeout - (time.monotonic() - t0)))
	for i, t in enumerate(threads):
		if t.is_alive():
			errors[i] = "still running after %ds" % timeout
	return time.monotonic() - t0, errors


def downloads(env, count, n, p=None, timeout=60):
	"""count parallel downloads of n bytes, each hash-checked: seconds taken."""
	want = hashlib.sha256(pattern(n)).hexdigest()

	def one(i):
		body = download(env, n, p)
		check(hashlib.sha256(body).hexdigest() == want, "download #%d: %d bytes, hash differs"
		      % (i, len(body)))
	dt, errors = parallel(count, one, timeout)
	bad = [e for e in errors if e]
	check(not bad, "%d of %d downloads failed; first: %s" % (len(bad), count, bad[0] if bad else ""))
	return dt


def gateway_conns(port):
	"""Established TCP connections to port on loopback (each counted once, from the client's end)."""
	out = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :%d )" % port],
			     capture_output=True, text=True, timeout=10).stdout
	return len([line for line in out.splitlines() if line.strip()])


def resets(p, reason):
	return metric(p, "arcproxy_gateway_stream_resets_total", reason=reason)


def recovers(env, p, sim, what, bound=20.0):
	"""Poll (bounded) until a tunnel through p works again; returns the seconds it took."""
	t0 = time.monotonic()
	for _ in range(200):
		try:
			if download(env, 1000, p) == pattern(1000):
				return time.monotonic() - t0
		except (OSError, EOFError, AssertionError):
			pass
		if time.monotonic() - t0 > bound:
			break
		time.sleep(0.2)
	raise AssertionError("no tunnel within %.0fs after %s\n%s" % (bound, what, p.stderr_tail(8)))
