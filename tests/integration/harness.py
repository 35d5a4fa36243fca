"""harness.py -- boot arcproxy on a generated config and talk to it.

A scenario module (test_*.py) defines setup() -> env and teardown(env), and its
tests with @test; run.py runs them in file order and passes env to each.
The setups that several modules share (cloudsim with its PKI, arcproxy in gateway mode,
Squid, himds with an identity) are in fixtures.py.
"""

import hashlib
import http.client
import json
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import traceback
from pathlib import Path

import origin as origin_mod

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("ARC_BIN") or REPO / "build" / "bin")
if not BIN_DIR.is_absolute():
	BIN_DIR = REPO / BIN_DIR
ARCPROXY = BIN_DIR / "arcproxy"
KEEP = os.environ.get("ARC_KEEP") == "1"

# --- the test registry ----------------------------------------------------

TESTS = []


class Skip(Exception):
	"""Raised by a test that cannot run here; reported as SKIP, not as a failure."""


def test(fn=None, *, timeout=30):
	"""Register fn(env) as a test of its module, with a timeout in seconds."""
	def reg(f):
		TESTS.append({"module": f.__module__, "name": f.__name__, "fn": f, "timeout": timeout})
		return f
	return reg(fn) if fn else reg


def check(cond, msg):
	if not cond:
		raise AssertionError(msg)


def poll(fn, timeout=3.0, interval=0.05):
	"""Call fn until it returns something truthy or timeout passes; return its last value."""
	deadline = time.monotonic() + timeout
	for _ in range(int(timeout / interval) + 2):
		v = fn()
		if v or time.monotonic() >= deadline:
			return v
		time.sleep(interval)
	return fn()


# --- ports and the shared origin --------------------------------------------

_given_ports = set()
_lock = threading.RLock()
_port_dir = None


def port_dir():
	"""Where the run's processes (run.py runs modules side by side) claim the ports they hand
	out, a file each: ARC_PORT_DIR, else made in the temp root on first use."""
	global _port_dir
	with _lock:
		if _port_dir is None:
			_port_dir = os.environ.get("ARC_PORT_DIR") or os.path.join(tmp_root(), "ports")
			os.makedirs(_port_dir, exist_ok=True)
	return _port_dir


def _claim(port):
	try:
		os.close(os.open(os.path.join(port_dir(), str(port)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
		return True
	except FileExistsError:
		return False


def free_port():
	"""A loopback TCP port nobody listens on right now (and not handed out before, by this
	process or another of the run), and none that arcproxy guards (origin.ARC_PORTS)."""
	with _lock:
		for _ in range(100):
			s = socket.socket()
			s.bind(("127.0.0.1", 0))
			port = s.getsockname()[1]
			s.close()
			if port in (40342, 40343, 40344):
				continue
			if port not in _given_ports:
				_given_ports.add(port)
				if _claim(port):
					return port
	raise RuntimeError("no free port")


def wait_port(port, timeout=5.0, proc=None):
	deadline = time.monotonic() + timeout
	for _ in range(int(timeout / 0.05) + 1):
		if proc is not None and proc.poll() is not None:
			return False
		try:
			socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
			return True
		except OSError:
			if time.monotonic() >= deadline:
				return False
			time.sleep(0.05)
	return False


def terminate(proc, timeout=10):
	"""SIGTERM to a subprocess.Popen that still runs; SIGKILL after timeout seconds.
	Returns its exit status."""
	if proc.poll() is None:
		proc.terminate()
		try:
			proc.wait(timeout)
		except subprocess.TimeoutExpired:
			proc.kill()
			proc.wait(5)
	return proc.returncode


_origin = None
_tmp_root = None


def tmp_root():
	global _tmp_root
	with _lock:
		if _tmp_root is None:
			_tmp_root = tempfile.mkdtemp(prefix="arcproxy-it-")
			os.chmod(_tmp_root, 0o755)
	return _tmp_root


def origin():
	"""The test origin, started on first use and shared by the whole run."""
	global _origin
	with _lock:
		if _origin is None:
			d = os.path.join(tmp_root(), "origin")
			os.mkdir(d)
			_origin = origin_mod.Origin(d)
	return _origin


payload = origin_mod.payload


def sha(n):
	return origin_mod.sha(n)


def sha_of(data):
	return hashlib.sha256(data).hexdigest()


# --- configuration ---------------------------------------------------------

def _lc(v, indent="\t"):
	"""A Python value as a libconfig literal: lists of dicts are lists, dicts groups."""
	if isinstance(v, bool):
		return "true" if v else "false"
	if isinstance(v, int):
		return str(v)
	if isinstance(v, str):
		return json.dumps(v)
	if isinstance(v, dict):
		inner = "".join("%s%s = %s;\n" % (indent, k, _lc(x, indent + "\t")) for k, x in v.items())
		return "{\n%s%s}" % (inner, indent[:-1])
	if isinstance(v, (list, tuple)):
		if v and all(isinstance(x, dict) for x in v):
			items = (",\n" + indent).join("{ %s }" % " ".join(
				"%s = %s;" % (k, _lc(x)) for k, x in d.items()) for d in v)
			return "(\n%s%s\n%s)" % (indent, items, indent[:-1])
		if not v and indent == "\t":
			return "[ ]"
		return "[ %s ]" % ", ".join(_lc(x) for x in v)
	raise TypeError(v)


# Environment variables that name a proxy, lower-cased.
PROXY_VARS = ("https_proxy", "http_proxy", "all_proxy", "no_proxy")


def conf_text(settings):
	"""settings: {key: value}; lists of dicts (routes, hosts) become libconfig lists."""
	out = ["# generated by tests/integration/harness.py\n"]
	for k, v in settings.items():
		if v is None:		# not written: arcproxy's default
			continue
		if k in ("routes", "hosts") and not v:
			out.append("%s = ( );\n" % k)
		else:
			out.append("%s = %s;\n" % (k, _lc(v)))
	return "".join(out)


def direct(match):
	return {"match": match, "route": "direct"}


def deny(match):
	return {"match": match, "route": "deny"}


def std_routes(o):
	"""Rules that allow the origin's services by 127.0.0.1:port (and nothing else on loopback)."""
	return [direct("127.0.0.1:%d" % p) for p in (o.http_port, o.tls_port, o.echo_port, o.halfclose_port)]


DEFAULT_LIMITS = {
	"drain_timeout_ms": 2000,
	"pool_idle_timeout_ms": 2000,
}


def _run_as():
	"""When root, start the daemons as this user (the documented test mode); '' = as root."""
	if os.geteuid() != 0:
		return None
	name = os.environ.get("ARC_RUN_AS", "nobody")
	return pwd.getpwnam(name) if name else None


# --- where the daemons' programs are -------------------------------------------

def _can_search(path, user):
	"""Whether user may enter path (and so every directory above it), asked as that user."""
	pid = os.fork()
	if pid == 0:
		try:
			os.setgroups([])
			os.setgid(user.pw_gid)
			os.setuid(user.pw_uid)
			os._exit(0 if os.access(str(path), os.X_OK) else 1)
		except BaseException:
			os._exit(2)
	_, status = os.waitpid(pid, 0)
	return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _stage_bin(bin_dir):
	"""The daemons run as ARC_RUN_AS (nobody), who cannot enter a clone in a closed
	directory (/root is 0700, so is a mktemp -d dir): then run copies of the programs
	from a directory anyone can read, and say so in one line. ARC_STAGE=0 turns it off."""
	user = _run_as()
	if user is None or os.environ.get("ARC_STAGE") == "0" or not bin_dir.is_dir() or \
	   _can_search(bin_dir, user):
		return bin_dir
	dest = Path(tmp_root()) / "bin"
	dest.mkdir(mode=0o755)
	for f in sorted(bin_dir.iterdir()):
		if f.is_file():
			shutil.copy2(f, dest / f.name)
			os.chmod(dest / f.name, 0o755)
	print("harness: user %s cannot enter %s (a directory above it is closed to others): "
	      "running copies of its programs from %s" % (user.pw_name, bin_dir, dest), flush=True)
	return dest


# ARC_BIN's, before any copies (run.py hands a module the copies in ARC_BIN and
# the given directory in ARC_GIVEN_BIN: make deb builds from the latter).
GIVEN_BIN_DIR = Path(os.environ.get("ARC_GIVEN_BIN") or BIN_DIR)
BIN_DIR = _stage_bin(BIN_DIR)
ARCPROXY = BIN_DIR / "arcproxy"


# --- the proxy under test ----------------------------------------------------

class Daemon:
	"""What every daemon a test starts shares: its process (proc), its stderr file
	(stderr_path) and its name, for stopping it and reading what it said."""

	name = "daemon"

	def alive(self):
		return self.proc is not None and self.proc.poll() is None

	def stop(self, timeout=10):
		"""SIGTERM, then SIGKILL after the bound. Returns the exit status."""
		if self.proc is None:
			return None
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				self.kill()
		return self.proc.returncode

	def kill(self):
		if self.proc is not None and self.proc.poll() is None:
			self.proc.kill()
			self.proc.wait(5)

	def stderr_text(self):
		try:
			with open(self.stderr_path, "rb") as f:
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	def stderr_tail(self, n=25):
		"""The end of the daemon's stderr, or the start of a sanitizer report if there is one."""
		lines = self.stderr_text().splitlines()
		for i, line in enumerate(lines):
			if re.search(r"ERROR: \w+Sanitizer|runtime error:", line):
				return "\n".join(["--- %s stderr (%s), sanitizer report:" % (self.name, self.stderr_path)]
						 + lines[max(0, i - 3):i + n])
		return "\n".join(["--- %s stderr (%s), last %d lines:" % (self.name, self.stderr_path, n)]
				 + lines[-n:])

	def sanitizer_report(self):
		m = re.search(r"(ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:).*",
			      self.stderr_text())
		return m.group(0) if m else None

	def log_has(self, regex, timeout=3.0):
		return poll(lambda: re.search(regex, self.stderr_text(), re.M), timeout=timeout)


_live = []


class Proxy(Daemon):
	name = "arcproxy"

	def __init__(self, routes=(), hosts=(), limits=None, workers=1, default_route="direct",
		     access_log="access.log", extra=None, name="arcproxy", nofile=None, environ=None):
		self.nofile = nofile	# RLIMIT_NOFILE for the daemon, to provoke EMFILE
		self.environ_extra = dict(environ or {})
		self.port = free_port()
		self.admin_port = free_port()
		self.base = tempfile.mkdtemp(prefix=name + "-", dir=tmp_root())
		os.chmod(self.base, 0o755)
		self.conf_dir = os.path.join(self.base, "conf")
		self.state_dir = os.path.join(self.base, "state")
		self.run_dir = os.path.join(self.base, "run")		# --run-dir: the pid file
		self.identity_dir = os.path.join(self.state_dir, "himds")	# machine.crt, .key
		os.mkdir(self.conf_dir)
		os.mkdir(self.state_dir)
		os.mkdir(self.run_dir)
		os.mkdir(self.identity_dir)
		self.user = _run_as()
		if self.user:
			for d in (self.state_dir, self.run_dir, self.identity_dir):
				os.chown(d, self.user.pw_uid, self.user.pw_gid)
		self.conf_path = os.path.join(self.conf_dir, "arcproxy.conf")
		self.stderr_path = os.path.join(self.base, "stderr.log")
		self.settings = {
			"listen": ["127.0.0.1:%d" % self.port],
			"admin_listen": "127.0.0.1:%d" % self.admin_port,
			"workers": workers,
			"routes": list(routes),
			"default_route": default_route,
			"hosts": list(hosts),
			"access_log": access_log,
			"limits": dict(DEFAULT_LIMITS, **(limits or {})),
		}
		self.settings.update(extra or {})
		self.proc = None
		self.write_config()

	@property
	def environ(self):
		"""The daemon's environment, as the runner's is when it starts, without its proxy
		variables (arcproxy takes HTTPS_PROXY as the enterprise proxy when agent.conf names
		none), then the test's own (environ=)."""
		e = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARS}
		e.update(self.environ_extra)
		return e

	def install_run_dir(self):
		"""The run dir as the package lays /run/arc out (packaging/tmpfiles.conf), for a test that
		also runs root's daemons on it (guestconfig, extmgr: they refuse a run dir another user
		can change): root's 0755, with arcproxy's pid file made for the user it runs as."""
		if not self.user:
			return
		os.chown(self.run_dir, 0, 0)
		os.chmod(self.run_dir, 0o755)
		pid = os.path.join(self.run_dir, "arcproxy.pid")
		with open(pid, "a"):
			pass
		os.chown(pid, self.user.pw_uid, self.user.pw_gid)
		os.chmod(pid, 0o644)

	def write_agent_conf(self, text):
		"""<config-dir>/agent.conf, the operator's settings (proxy.url and the like)."""
		path = os.path.join(self.conf_dir, "agent.conf")
		with open(path, "w") as f:
			f.write(text)
		os.chmod(path, 0o644)

	def write_config(self, text=None, **changes):
		self.settings.update(changes)
		if text is None:
			text = conf_text(self.settings)
		tmp = self.conf_path + ".tmp"
		with open(tmp, "w") as f:
			f.write(text)
		os.chmod(tmp, 0o644)
		os.rename(tmp, self.conf_path)

	def _popen_kw(self):
		kw = {}
		if self.user:
			kw = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
		if self.nofile:
			n = self.nofile
			kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
		return kw

	def command(self, *args):
		return [str(ARCPROXY), *args, "--config-dir", self.conf_dir, "--state-dir", self.state_dir,
			"--run-dir", self.run_dir]

	def check_config(self, timeout=10):
		"""arcproxy -n on the current config: CompletedProcess (text)."""
		return subprocess.run(self.command("-n"), capture_output=True, text=True,
				      timeout=timeout, env=self.environ, **self._popen_kw())

	def start(self, timeout=5.0):
		if not ARCPROXY.exists():
			raise AssertionError("arcproxy binary not found: %s (build it or set ARC_BIN)" % ARCPROXY)
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen(self.command("-d"), stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file,
					     env=self.environ, **self._popen_kw())
		_live.append(self)
		if not wait_port(self.port, timeout, self.proc):
			rc = self.proc.poll()
			self.kill()
			raise AssertionError("arcproxy did not listen on %d within %.0fs (exit %s)\n%s"
					     % (self.port, timeout, rc, self.stderr_tail()))
		if self.settings.get("admin_listen"):
			wait_port(self.admin_port, timeout, self.proc)
		return self

	@property
	def pid(self):
		return self.proc.pid

	def signal(self, sig):
		self.proc.send_signal(sig)

	def reload(self):
		self.signal(signal.SIGHUP)

	def stop(self, timeout=None):
		"""SIGTERM, then SIGKILL after the bound. Returns the exit status."""
		if self.proc is None:
			return None
		if timeout is None:
			timeout = self.settings["limits"].get("drain_timeout_ms", 10000) / 1000 + 5
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				self.kill()
		return self.proc.returncode

	def kill(self):
		if self.proc and self.proc.poll() is None:
			self.proc.kill()
			try:
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				pass
		if self in _live:
			_live.remove(self)

	def cleanup(self):
		self.kill()
		try:
			self.stderr_file.close()
		except AttributeError:
			pass
		if not KEEP:
			shutil.rmtree(self.base, ignore_errors=True)

	def fd_count(self):
		return len(os.listdir("/proc/%d/fd" % self.pid))

	def cpu_seconds(self):
		"""User plus system CPU time the daemon has used."""
		with open("/proc/%d/stat" % self.pid) as f:
			fields = f.read().rsplit(")", 1)[1].split()
		return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

	def rss_bytes(self):
		with open("/proc/%d/status" % self.pid) as f:
			m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
		return int(m.group(1)) * 1024

	def fds(self):
		out = []
		d = "/proc/%d/fd" % self.pid
		for name in os.listdir(d):
			try:
				out.append(os.readlink(os.path.join(d, name)))
			except OSError:
				pass
		return sorted(out)

	# --- logs and admin --------------------------------------------------
	def access_log_path(self):
		p = self.settings.get("access_log") or ""
		return p if os.path.isabs(p) else os.path.join(self.state_dir, "arcproxy", p)

	def access_log_lines(self):
		try:
			with open(self.access_log_path(), "rb") as f:
				return f.read().decode("utf-8", "replace").splitlines()
		except OSError:
			return []

	def admin_get(self, path, timeout=5):
		c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
		try:
			c.request("GET", path)
			r = c.getresponse()
			return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8", "replace")
		finally:
			c.close()

	def metrics(self):
		status, _, body = self.admin_get("/metrics")
		check(status == 200, "GET /metrics: status %d" % status)
		return parse_metrics(body)


def parse_metrics(text):
	"""Prometheus text -> {(name, frozenset(labels.items())): value}."""
	out = {}
	for line in text.splitlines():
		if not line or line.startswith("#"):
			continue
		m = re.match(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
		if not m:
			continue
		labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
		try:
			out[(m.group(1), frozenset(labels.items()))] = float(m.group(3))
		except ValueError:
			pass
	return out


def metric_sum(metrics, name, **labels):
	"""Sum of every series of name whose labels match the given ones (values are regexes)."""
	def ok(ls):
		d = dict(ls)
		return all(k in d and re.fullmatch(rx, d[k]) for k, rx in labels.items())
	return sum(v for (n, ls), v in metrics.items() if n == name and ok(ls))


def cleanup_all():
	for p in list(_live):
		p.kill()
	if _origin is not None:
		_origin.close()
	if _tmp_root and not KEEP:
		shutil.rmtree(_tmp_root, ignore_errors=True)


# --- a raw HTTP/1.1 client -------------------------------------------------

class Response:
	def __init__(self, status, reason, headers, body, head):
		self.status, self.reason, self.headers, self.body, self.head = status, reason, headers, body, head

	def header(self, name, default=None):
		name = name.lower()
		for k, v in self.headers:
			if k.lower() == name:
				return v
		return default

	def all(self, name):
		return [v for k, v in self.headers if k.lower() == name.lower()]

	def json(self):
		return json.loads(self.body)

	def __repr__(self):
		return "<%d %s, %d body bytes>" % (self.status, self.reason, len(self.body or b""))


class Conn:
	"""A loopback TCP connection with a read buffer, for requests written by hand."""

	def __init__(self, port, timeout=5.0, host="127.0.0.1"):
		self.sock = socket.create_connection((host, port), timeout=timeout)
		self.buf = b""

	def send(self, data):
		self.sock.sendall(data.encode("latin-1") if isinstance(data, str) else data)

	def settimeout(self, t):
		self.sock.settimeout(t)

	def _fill(self):
		d = self.sock.recv(262144)
		if not d:
			raise EOFError("connection closed by peer")
		self.buf += d

	def read_until(self, delim, limit=1 << 20):
		for _ in range(1 << 16):
			i = self.buf.find(delim)
			if i >= 0:
				out, self.buf = self.buf[:i + len(delim)], self.buf[i + len(delim):]
				return out
			if len(self.buf) > limit:
				raise AssertionError("no %r within %d bytes" % (delim, limit))
			self._fill()
		raise AssertionError("read_until: too many reads")

	def read_exact(self, n):
		chunks = [self.buf[:n]]
		have = len(chunks[0])
		self.buf = self.buf[n:]
		for _ in range(1 << 20):
			if have >= n:
				break
			d = self.sock.recv(min(n - have, 1 << 20))
			if not d:
				raise EOFError("connection closed after %d of %d bytes" % (have, n))
			chunks.append(d)
			have += len(d)
		return b"".join(chunks)

	def read_to_eof(self, limit=1 << 28):
		chunks = [self.buf]
		self.buf = b""
		total = len(chunks[0])
		for _ in range(1 << 20):
			d = self.sock.recv(1 << 20)
			if not d:
				break
			chunks.append(d)
			total += len(d)
			if total > limit:
				raise AssertionError("more than %d bytes before EOF" % limit)
		return b"".join(chunks)

	def at_eof(self, timeout=3.0):
		"""True if the peer closes (EOF or reset) within timeout, with no more data."""
		self.sock.settimeout(timeout)
		try:
			return self.read_to_eof(limit=1 << 16) == b""
		except (ConnectionResetError, BrokenPipeError):
			return True
		except socket.timeout:
			return False

	def read_head(self):
		head = self.read_until(b"\r\n\r\n", limit=256 * 1024)
		lines = head.decode("latin-1").split("\r\n")
		m = re.match(r"HTTP/(\d\.\d) (\d{3})(?: (.*))?$", lines[0])
		if not m:
			raise AssertionError("bad status line %r" % lines[0])
		headers = []
		for line in lines[1:]:
			if line:
				k, _, v = line.partition(":")
				headers.append((k.strip(), v.strip()))
		return int(m.group(2)), m.group(3) or "", headers, head

	def read_response(self, method="GET", skip_1xx=True):
		for _ in range(10):
			status, reason, headers, head = self.read_head()
			if not (skip_1xx and 100 <= status < 200 and status != 101):
				break
		r = Response(status, reason, headers, b"", head)
		te = (r.header("transfer-encoding") or "").lower()
		cl = r.header("content-length")
		if method == "HEAD" or 100 <= status < 200 or status in (204, 304) or \
		   (method == "CONNECT" and 200 <= status < 300):
			return r
		if "chunked" in te:
			r.body = self._read_chunked()
		elif cl is not None:
			r.body = self.read_exact(int(cl))
		else:
			r.body = self.read_to_eof()
		return r

	def _read_chunked(self):
		parts = []
		for _ in range(1 << 20):
			line = self.read_until(b"\r\n", limit=4096)
			size = int(line.split(b";")[0].strip(), 16)
			if size == 0:
				for _ in range(100):
					if self.read_until(b"\r\n", limit=65536) == b"\r\n":
						return b"".join(parts)
				raise AssertionError("endless trailers")
			parts.append(self.read_exact(size))
			check(self.read_exact(2) == b"\r\n", "chunk not followed by CRLF")
		raise AssertionError("endless chunks")

	def request(self, method, target, headers=(), body=b"", host=None):
		"""Send one request. headers: list of (name, value); Host is added unless given."""
		names = {k.lower() for k, _ in headers}
		lines = ["%s %s HTTP/1.1" % (method, target)]
		if "host" not in names:
			lines.append("Host: %s" % (host or _host_of(target)))
		if body and "content-length" not in names and "transfer-encoding" not in names:
			lines.append("Content-Length: %d" % len(body))
		lines += ["%s: %s" % kv for kv in headers]
		self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

	def connect_tunnel(self, authority, headers=()):
		"""CONNECT authority; returns the Response (head only)."""
		self.request("CONNECT", authority, headers, host=authority)
		return self.read_response("CONNECT")

	def shutdown_wr(self):
		self.sock.shutdown(socket.SHUT_WR)

	def close(self):
		try:
			self.sock.close()
		except OSError:
			pass

	def __enter__(self):
		return self

	def __exit__(self, *exc):
		self.close()


def _host_of(target):
	m = re.match(r"^[a-zA-Z]+://([^/?#]+)", target)
	return m.group(1) if m else target if "/" not in target else "localhost"


def fetch(proxy_port, method, target, headers=(), body=b"", timeout=10):
	"""One request on a fresh connection to the proxy; returns the Response."""
	with Conn(proxy_port, timeout) as c:
		c.request(method, target, headers, body)
		return c.read_response(method)


def healthy(proxy, what="after the previous step"):
	"""Assert that the proxy is alive and serves a normal absolute-form GET."""
	check(proxy.alive(), "arcproxy exited %s (status %s)" % (what, proxy.proc.returncode))
	o = origin()
	try:
		r = fetch(proxy.port, "GET", "http://127.0.0.1:%d/bytes/1000" % o.http_port, timeout=5)
	except (OSError, EOFError) as e:
		raise AssertionError("proxy does not serve a normal request %s: %r" % (what, e))
	check(r.status == 200 and r.body == payload(1000),
	      "proxy does not serve a normal request %s: %r" % (what, r))


def proxy_status_error(resp):
	"""The error= token of the response's Proxy-Status header, or None."""
	v = resp.header("proxy-status") or ""
	m = re.search(r"error=\"?([A-Za-z0-9_.-]+)", v)
	return m.group(1) if m else None


def curl(*args, timeout=60, check_rc=False):
	p = subprocess.run(["curl", "-sS", *args], capture_output=True, timeout=timeout)
	if check_rc and p.returncode != 0:
		raise AssertionError("curl %s: exit %d: %s" % (" ".join(args), p.returncode,
							       p.stderr.decode(errors="replace").strip()))
	return p


# --- module environments -----------------------------------------------------

class Env:
	"""What a scenario module shares: the origin, its proxy and the fd baseline."""

	def __init__(self, proxy):
		self.origin = origin()
		self.proxy = proxy
		self.fd_baseline = None
		self.extra = []	# further proxies a test started; stopped at teardown

	def baseline(self, warmup=None):
		"""Record the proxy's fd count after a first tunnel (which opens whatever is opened
		lazily, e.g. the access log) has closed; a tunnel leaves nothing in the pool."""
		o = self.origin
		with Conn(self.proxy.port) as c:
			r = c.connect_tunnel(warmup or "127.0.0.1:%d" % o.echo_port)
			check(r.status == 200, "warm-up CONNECT at start: status %d" % r.status)
			c.send(b"warm-up\n")
			check(c.read_exact(8) == b"warm-up\n", "warm-up tunnel: no echo")
			c.shutdown_wr()
			c.read_to_eof(limit=100)
		time.sleep(0.3)
		self.fd_baseline = self.proxy.fd_count()
		healthy(self.proxy, "at start")

	def assert_no_fd_leak(self, settle=None):
		"""The proxy's fd count returns to its baseline (idle pool entries expire first)."""
		check(self.proxy.alive(), "arcproxy is not running (exit status %s)" % self.proxy.proc.returncode)
		if settle is None:
			settle = self.proxy.settings["limits"]["pool_idle_timeout_ms"] / 1000 + 4
		now = poll(lambda: self.proxy.fd_count() <= self.fd_baseline and self.proxy.fd_count(),
			   timeout=settle, interval=0.25)
		if not now:
			raise AssertionError("fd leak: %d open fds, %d at start of module\n%s"
					     % (self.proxy.fd_count(), self.fd_baseline, "\n".join(self.proxy.fds())))


def standard_env(**proxy_kw):
	"""Start the origin and a proxy whose rules allow the origin's services."""
	o = origin()
	routes = std_routes(o) + list(proxy_kw.pop("routes", ()))
	warmup = proxy_kw.pop("warmup", None)
	agent_conf = proxy_kw.pop("agent_conf", None)
	p = Proxy(routes=routes, **proxy_kw)
	if agent_conf:
		p.write_agent_conf(agent_conf)
	p.start()
	env = Env(p)
	env.baseline(warmup)
	return env


def stop_env(env):
	"""Stop the module's proxies; returns a list of problems (crash, sanitizer report)."""
	problems = []
	for p in [env.proxy] + env.extra:
		if p.proc is None:
			continue
		crashed = p.proc.poll()
		if crashed is not None and p is env.proxy:
			problems.append("arcproxy had already exited with status %s" % crashed)
		rc = p.stop()
		if crashed is None and p is env.proxy and rc not in (0, None):
			problems.append("arcproxy exited %s on SIGTERM" % rc)
		rep = p.sanitizer_report()
		if rep:
			problems.append("sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
		if not problems:
			p.cleanup()
	return problems


def format_exc(e):
	"""A short traceback: the test's own frames only."""
	tb = traceback.extract_tb(e.__traceback__)
	here = [f for f in tb if "/tests/integration/" in f.filename]
	lines = ["%s:%d %s" % (os.path.basename(f.filename), f.lineno, f.line) for f in here[-4:]]
	return "\n".join(lines)
