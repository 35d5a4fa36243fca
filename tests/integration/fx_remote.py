"""fx_remote.py -- remote access through the gateway: cloudsim with its control plane, notification
service and relay; arcproxy in gateway mode with a registered machine; arcnotify on that machine;
a real OpenSSH server on a loopback port; and the real ssh client through `cloudsim remote`.

A scenario module builds its env with remote_env() in setup() and hands it to stop_remote_env()
in teardown(), which returns the problems it saw (a crash, a non-zero exit on SIGTERM, a sanitizer
report)."""

import grp
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import fixtures
import harness
from fixtures import ROOT, ArcProxy, Sim, identity_dir, machine_json, put_ca, put_file, read_key, \
	share_state_dir
from harness import Skip, check, curl, free_port, poll, wait_port

ARCNOTIFY = harness.BIN_DIR / "arcnotify"
AZCMAGENT = harness.BIN_DIR / "azcmagent"
SSHD = "/usr/sbin/sshd"
MACHINE = "remote-it"
ONBOARDING_TOKEN = "remote-onboarding-token"
CLOUD_URL = "https://management.cloudsim.test"


class RemoteSim(Sim):
	"""cloudsim with the control plane, notify.cloudsim.test and relay.cloudsim.test."""

	def __init__(self):
		super().__init__()
		self.notify_port = free_port()
		self.relay_port = free_port()
		self.packages_port = free_port()
		self.packages_dir = os.path.join(self.base, "packages")	# extension catalog
		self.management = "control"

	def settings(self):
		s = super().settings()
		s["control"].update({"onboarding_tokens": [ONBOARDING_TOKEN], "heartbeat_interval_seconds": 60})
		s["notify"] = {"listen": "127.0.0.1:%d" % self.notify_port,
			       "relay_listen": "127.0.0.1:%d" % self.relay_port,
			       "ping_interval_ms": 1000, "dead_after_ms": 3000,
			       "session_timeout_ms": 5000}
		s["packages"] = {"listen": "127.0.0.1:%d" % self.packages_port, "dir": self.packages_dir}
		s["hosts"] += [{"name": "notify.cloudsim.test", "target": "127.0.0.1:%d" % self.notify_port},
			       {"name": "relay.cloudsim.test", "target": "127.0.0.1:%d" % self.relay_port}]
		return s

	def start(self):
		super().start()
		for port in (self.notify_port, self.relay_port):
			if not wait_port(port, 5, self.proc):
				raise AssertionError("cloudsim does not listen on %d (notify, relay)\n%s"
						     % (port, self.stderr_tail()))
		return self

	def operator(self, method, path, body=None):
		c = http.client.HTTPConnection("127.0.0.1", self.operator_port, timeout=10)
		try:
			c.request(method, path, body=json.dumps(body) if body is not None else None,
				  headers={"Content-Type": "application/json"})
			r = c.getresponse()
			data = r.read()
		finally:
			c.close()
		return r.status, (json.loads(data) if data else None)

	def operator_url(self):
		return "http://127.0.0.1:%d" % self.operator_port


class Notify(harness.Daemon):
	"""arcnotify on the machine's config, state and run dirs (as root it drops to arcnotify)."""

	name = "arcnotify"

	def __init__(self, conf_dir, state_dir, proxy_port):
		self.base = tempfile.mkdtemp(prefix="arcnotify-", dir=harness.tmp_root())
		os.chmod(self.base, 0o755)
		self.conf_dir = conf_dir
		self.state_dir = state_dir
		self.run_dir = os.path.join(self.base, "run")	# root's 0755, as /run/arc
		os.mkdir(self.run_dir, 0o755)
		self.stderr_path = os.path.join(self.base, "stderr.log")
		self.proc = None
		with open(os.path.join(conf_dir, "notify.conf"), "w") as f:
			f.write('proxy = "http://127.0.0.1:%d";\nping_interval_ms = 1000;\n'
				'dead_after_ms = 3000;\nbackoff_min_ms = 100;\nbackoff_max_ms = 1000;\n'
				'connect_timeout_ms = 5000;\n' % proxy_port)
		os.chmod(os.path.join(conf_dir, "notify.conf"), 0o644)

	def start(self):
		if not ARCNOTIFY.exists():
			raise AssertionError("arcnotify binary not found: %s (make)" % ARCNOTIFY)
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen([str(ARCNOTIFY), "-d", "-v", "--config-dir", self.conf_dir,
					      "--state-dir", self.state_dir, "--run-dir", self.run_dir],
					     stdin=subprocess.DEVNULL, stdout=self.stderr_file,
					     stderr=self.stderr_file)
		return self

	def wake_file(self, topic):
		return os.path.join(self.run_dir, "notify", topic)

	def count(self, regex):
		return len(re.findall(regex, self.stderr_text(), re.M))

	def cleanup(self):
		self.kill()
		try:
			self.stderr_file.close()
		except AttributeError:
			pass
		if not harness.KEEP:
			shutil.rmtree(self.base, ignore_errors=True)


class Sshd(harness.Daemon):
	"""OpenSSH's sshd on a free loopback port, with its own config, host key and authorized key,
	in a temp dir (-D -e -f: foreground, log to stderr, that config only)."""

	name = "sshd"

	def __init__(self, listen="127.0.0.1", port=None):
		self.base = tempfile.mkdtemp(prefix="sshd-", dir=harness.tmp_root())
		os.chmod(self.base, 0o755)
		self.port = port or free_port()
		self.user = pwd.getpwuid(os.getuid()).pw_name
		self.host_key = os.path.join(self.base, "host_ed25519")
		self.client_key = os.path.join(self.base, "id_ed25519")
		self.authorized = os.path.join(self.base, "authorized_keys")
		self.known_hosts = os.path.join(self.base, "known_hosts")
		self.config = os.path.join(self.base, "sshd_config")
		self.stderr_path = os.path.join(self.base, "stderr.log")
		self.proc = None
		for key in (self.host_key, self.client_key):
			subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "arc-test", "-f", key],
				       check=True, capture_output=True)
		shutil.copy(self.client_key + ".pub", self.authorized)
		os.chmod(self.authorized, 0o600)
		with open(self.host_key + ".pub") as f:
			kind, blob = f.read().split()[:2]
		with open(self.known_hosts, "w") as f:
			f.write("arc-remote-it %s %s\n" % (kind, blob))
		with open(self.config, "w") as f:
			f.write("\n".join([
				"Port %d" % self.port,
				"ListenAddress %s" % listen,
				"HostKey %s" % self.host_key,
				"AuthorizedKeysFile %s" % self.authorized,
				"PidFile %s" % os.path.join(self.base, "sshd.pid"),
				"AllowUsers %s" % self.user,
				"PermitRootLogin prohibit-password",
				"PasswordAuthentication no",
				"KbdInteractiveAuthentication no",
				"UsePAM no",
				"StrictModes no",
				"Subsystem sftp internal-sftp",
				"LogLevel VERBOSE",
				""]))

	def argv(self):
		"""The command line, after checking the config (sshd -t)."""
		if not os.path.exists(SSHD):
			raise Skip("no %s (openssh-server)" % SSHD)
		# sshd wants its privilege separation directory (Debian's tmpfiles make it at boot).
		if ROOT:
			os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
		check(subprocess.run([SSHD, "-t", "-f", self.config], capture_output=True).returncode == 0,
		      "sshd -t refuses the test's config")
		return [SSHD, "-D", "-e", "-f", self.config]

	def start(self):
		argv = self.argv()
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file)
		if not wait_port(self.port, 5, self.proc):
			raise AssertionError("sshd did not listen on %d\n%s" % (self.port, self.stderr_tail()))
		return self

	def ssh_args(self, proxy_command=None, port=None):
		"""The ssh client's options: our key, the host key pinned under an alias, and either the
		ProxyCommand or a direct connection to the port."""
		args = ["-F", "/dev/null", "-i", self.client_key, "-o", "IdentitiesOnly=yes",
			"-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + self.known_hosts,
			"-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias=arc-remote-it",
			"-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR"]
		if proxy_command:
			args += ["-o", "ProxyCommand=" + proxy_command]
		if port:
			args += ["-o", "Port=%d" % port]
		return args

	def cleanup(self):
		self.kill()
		try:
			self.stderr_file.close()
		except AttributeError:
			pass
		if not harness.KEEP:
			shutil.rmtree(self.base, ignore_errors=True)


class RemoteEnv:
	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail when a test fails
		self.sim = None
		self.arcproxy = None
		self.notify = None
		self.sshd = None
		self.sims = []


def ensure_notify_user():
	"""As root: user arcnotify in group arc (it reads the machine key), as make run and
	sysusers.d make it."""
	fixtures.ensure_users()
	if not ROOT:
		return
	with fixtures.users_lock():
		try:
			pwd.getpwnam("arcnotify")
		except KeyError:
			subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
					"-G", "arc", "arcnotify"], check=True)
		if "arcnotify" not in grp.getgrnam("arc").gr_mem:
			subprocess.run(["usermod", "-a", "-G", "arc", "arcnotify"], check=True)


def register(sim, p):
	"""What azcmagent connect does: key and CSR here, POST register through arcproxy and the
	gateway, the state files in the layout (machine.key root:arc 0640)."""
	own = identity_dir(p.state_dir)
	key = os.path.join(own, "machine.key")
	subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
		       check=True, capture_output=True)
	csr = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + MACHINE],
			     check=True, capture_output=True, text=True).stdout
	put_file(key, read_key(key), 0o640)
	body = json.dumps({"onboardingToken": ONBOARDING_TOKEN, "csr": csr, "name": MACHINE,
			   "agentVersion": "test"})
	r = curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", sim.file("ca.crt"),
		 "-H", "Content-Type: application/json", "--data-binary", body, "-w", "\n%{http_code}",
		 CLOUD_URL + "/machines/register", timeout=30)
	text, _, code = r.stdout.decode("utf-8", "replace").rpartition("\n")
	check(r.returncode == 0 and code == "201", "register through arcproxy: exit %d, HTTP %s: %s %s"
	      % (r.returncode, code, text[:300], r.stderr.decode(errors="replace")))
	answer = json.loads(text)
	put_file(os.path.join(own, "machine.crt"), answer["certificate"], 0o644)
	put_file(os.path.join(p.state_dir, "machine.json"),
		 machine_json(answer["resource"], put_ca(sim, p.state_dir)), 0o644)


def remote_env():
	"""Everything started: cloudsim, arcproxy (gateway mode, the machine registered through it),
	arcnotify with its channel up, and sshd.  incomingconnections.ports allows sshd's port."""
	if not ROOT:
		raise Skip("needs root: arcnotify's user and the identity's group")
	env = RemoteEnv()
	try:
		ensure_notify_user()
		sim = env.sim = RemoteSim()
		fixtures.make_pki(sim)
		sim.write_config()
		sim.start()
		p = env.arcproxy = ArcProxy(hosts=[{"name": "gw.cloudsim.test", "address": "127.0.0.1"}],
					    name="remote-arcproxy")
		p.settings.pop("default_route")
		p.write_config()
		shutil.copy(sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
		os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
		p.write_agent_conf('connection = { type = "gateway"; };\n'
				   'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt"; };\n'
				   % sim.gw_port)
		share_state_dir(p.state_dir)
		p.start()
		register(sim, p)
		p.reload()	# it presents the machine certificate from now on
		check(poll(lambda: "configuration reloaded" in p.stderr_text()),
		      "arcproxy did not reload after the registration")
		env.sshd = Sshd().start()
		env.notify = Notify(p.conf_dir, p.state_dir, p.port).start()
		env.proxy = env.notify
		check(channel_up(env, 1), "the channel did not come up\n%s\n%s"
		      % (env.notify.stderr_tail(), sim.stderr_tail()))
		azcm(env, "config", "set", "incomingconnections.ports", str(env.sshd.port))
	except BaseException:
		stop_remote_env(env)
		raise
	return env


def channel_up(env, count, timeout=10):
	"""cloudsim has seen the machine's channel open count times."""
	return poll(lambda: len(re.findall(r"channel %s open from" % MACHINE, env.sim.stderr_text())) >= count,
		    timeout=timeout, interval=0.1)


def azcm(env, *args):
	"""azcmagent on the machine's dirs (config set tells the daemons in the run dir: arcnotify)."""
	r = subprocess.run([str(AZCMAGENT), *args, "--config-dir", env.arcproxy.conf_dir,
			    "--state-dir", env.arcproxy.state_dir, "--run-dir", env.notify.run_dir],
			   capture_output=True, text=True, timeout=30)
	check(r.returncode == 0, "azcmagent %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
	return r


def remote_command(env, port=None):
	"""The ProxyCommand: cloudsim remote MACHINE PORT --operator URL."""
	return "%s remote %s %d --operator %s" % (fixtures.CLOUDSIM, MACHINE, port or env.sshd.port,
						 env.sim.operator_url())


def remote(env, port, input=b"", timeout=30):
	"""cloudsim remote by itself: (exit status, stdout bytes, stderr text)."""
	r = subprocess.run([str(fixtures.CLOUDSIM), "remote", MACHINE, str(port), "--operator",
			    env.sim.operator_url()], input=input, capture_output=True, timeout=timeout)
	return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def ssh(env, *command, timeout=60, popen=False, stdin_pipe=False, **kw):
	"""The real ssh client through cloudsim remote."""
	args = ["ssh", *env.sshd.ssh_args(proxy_command=remote_command(env)), "%s@arc-remote-it" % env.sshd.user,
		*command]
	if popen:
		return subprocess.Popen(args, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
					stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
	return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def stop_remote_env(env):
	problems = []
	if env.notify:
		problems += fixtures.stop_problems(env.notify, "arcnotify")
	if env.sshd:
		env.sshd.stop()
	if env.arcproxy:
		problems += fixtures.stop_problems(env.arcproxy, "arcproxy")
	for sim in [env.sim] + env.sims:
		if sim:
			problems += fixtures.stop_problems(sim, "cloudsim", killed_ok=True)
	if not problems and not harness.KEEP:
		for d in (env.notify, env.sshd, env.arcproxy, env.sim):
			if d:
				d.cleanup()
	return problems
