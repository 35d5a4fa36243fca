"""services.py -- what a bench run starts and drives: packages, users, loopback ports, a Service with its log, and arcbench.

Shared by run.py (the side-by-side table) and gateway.py (the gateway route).
"""

import json
import os
import pwd
import signal
import socket
import subprocess
import time

START_TIMEOUT = 30


def say(msg):
	print("bench: " + msg, flush=True)


def is_root():
	return os.geteuid() == 0


# --- packages and users --------------------------------------------------------

def pkg_installed(pkg):
	p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
	return p.returncode == 0 and "install ok installed" in p.stdout


def install_missing(pkgs):
	"""apt-get install what is missing, as root; returns the packages still missing."""
	missing = [p for p in pkgs if not pkg_installed(p)]
	if not missing:
		return []
	if not is_root():
		say("missing Debian packages: %s (run as root, or: sudo apt-get install %s)"
		    % (" ".join(missing), " ".join(missing)))
		return missing
	say("installing %s" % " ".join(missing))
	env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
	subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=600)
	subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, timeout=1200)
	return [p for p in missing if not pkg_installed(p)]


def ensure_user(name):
	try:
		return pwd.getpwnam(name)
	except KeyError:
		pass
	if not is_root():
		return None
	subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, timeout=60)
	return pwd.getpwnam(name)


def run_dir(d):
	"""<d>/run for a daemon's pid file: never the installed /run/arc (issue 9)."""
	path = os.path.join(d, "run")
	os.makedirs(path, exist_ok=True)
	os.chmod(path, 0o755)
	return path


def chown_to(path, user):
	if is_root() and user:
		pw = pwd.getpwnam(user)
		os.chown(path, pw.pw_uid, pw.pw_gid)


# --- processes -------------------------------------------------------------------

_ports = set()
_started = []	# everything with a stop() that this run started, for stop_all()


def track(thing):
	"""Remember a started process (anything with stop()) for stop_all()."""
	_started.append(thing)
	return thing


def stop_all():
	"""Stop whatever this run started and is still running, newest first (idempotent)."""
	while _started:
		try:
			_started.pop().stop()
		except Exception as e:	# one that will not stop does not keep the others running
			say("stopping: %r" % e)


def stop_on_signals():
	"""SIGTERM and SIGHUP end the run through its finally blocks, as Ctrl-C does: the
	services run in their own sessions and would outlive a run killed outright."""
	def handler(sig, frame):
		raise SystemExit(128 + sig)
	for sig in (signal.SIGTERM, signal.SIGHUP):
		signal.signal(sig, handler)


def free_port():
	for _ in range(100):
		s = socket.socket()
		s.bind(("127.0.0.1", 0))
		port = s.getsockname()[1]
		s.close()
		if port not in _ports:
			_ports.add(port)
			return port
	raise RuntimeError("no free loopback port")


def port_open(port):
	try:
		socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
		return True
	except OSError:
		return False


class Service:
	"""A process this run started, with its stdout and stderr in a file."""

	def __init__(self, name, argv, cwd, env=None, port=None):
		self.name, self.argv, self.cwd, self.port = name, argv, cwd, port
		self.log_path = os.path.join(cwd, "output.log")
		self.log = open(self.log_path, "ab")
		self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
					     stdout=self.log, stderr=self.log, start_new_session=True)
		track(self)

	@property
	def pid(self):
		return self.proc.pid

	def alive(self):
		return self.proc.poll() is None

	def wait_listening(self, timeout=START_TIMEOUT):
		deadline = time.monotonic() + timeout
		for _ in range(int(timeout / 0.1) + 1):
			if not self.alive():
				return False
			if port_open(self.port):
				return True
			if time.monotonic() > deadline:
				break
			time.sleep(0.1)
		return False

	def tail(self, n=5):
		try:
			with open(self.log_path, "rb") as f:
				lines = f.read().decode("utf-8", "replace").splitlines()
		except OSError:
			return ""
		return " | ".join(lines[-n:])

	def bench_args(self):
		"""How arcbench reaches it: a plain forward proxy."""
		return ["--proxy", "127.0.0.1:%d" % self.port]

	def sample_pids(self):
		return [self.pid]

	def usage(self):
		"""(CPU seconds, peak RSS KiB) of the process so far."""
		try:
			with open("/proc/%d/stat" % self.pid) as f:
				fields = f.read().rsplit(")", 1)[1].split()
			cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
			hwm = 0
			with open("/proc/%d/status" % self.pid) as f:
				for line in f:
					if line.startswith("VmHWM:"):
						hwm = int(line.split()[1])
			return cpu, hwm
		except (OSError, IndexError, ValueError):
			return None, None

	def stop(self):
		if self.proc.poll() is None:
			try:
				self.proc.send_signal(signal.SIGTERM)
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				try:
					self.proc.wait(5)
				except subprocess.TimeoutExpired:
					pass
		self.log.close()


def version_of(argv, pick=lambda s: s.splitlines()[0] if s else "?"):
	try:
		p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
		return pick((p.stdout or p.stderr).strip())
	except (OSError, subprocess.TimeoutExpired):
		return "?"


class Bench:
	def __init__(self, bin_dir, seconds):
		self.exe = str(bin_dir / "arcbench")
		self.seconds = seconds

	def run(self, target, args, timeout=None):
		"""arcbench --json against target (a Service or a gateway route, or None for direct):
		its bench_args() say how to reach it, and every process of sample_pids() is sampled.
		Returns arcbench's JSON, with "failed" when something was not verified."""
		argv = [self.exe, "--json", "-t", "2", "--label", target.name if target else "direct"]
		argv += target.bench_args() if target else ["--direct"]
		for pid in (target.sample_pids() if target else []):
			argv += ["--pid", str(pid)]
		argv += args
		try:
			p = subprocess.run(argv, capture_output=True, text=True,
					   timeout=timeout or self.seconds + 90)
		except subprocess.TimeoutExpired:
			return {"failed": "arcbench did not finish in time"}
		try:
			res = json.loads(p.stdout)
		except ValueError:
			err = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[0]
			return {"failed": err}
		res["exit"] = p.returncode
		if p.returncode != 0:
			res["failed"] = "errors: " + ", ".join(
				"%s %d" % (k, v) for k, v in res["errors"].items() if k != "total") \
				if res["errors"]["total"] else "no verified operation"
		return res
