"""netns.py -- issue 14's topology: the cloud and the machine in two network namespaces joined by a veth pair, the machine behind an nftables egress firewall, and the appliance started inside.

  arc-cloud-<id>    198.18.0.1 (cloudsim: the gateway on :8443, echo on :443) and 198.18.0.2
                    (Squid on :3128, variant B); its operator API on its own loopback
  arc-machine-<id>  198.18.0.10: arcproxy, himds and arcnotify under their own users, extmgr and
                    guestconfig as root; /etc/netns/<name>/hosts maps the *.cloudsim.test names to
                    198.18.0.1 as DNS would (`ip netns exec` bind-mounts it on /etc/hosts);
                    nftables output policy drop, with a named counter per user for what it drops

<id> is "<pid>-<random>": two runs never collide, and sweep() removes what a killed run left
(its pid is gone). Everything stays in 198.18.0.0/24 and the namespaces' loopbacks: neither
namespace has a default route, and both resolve names only from their hosts files.

Used by tests/integration/test_firewall*.py, tools/firewall-demo.py and bench/firewall.py;
it imports nothing from the harness.
"""

import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time

PREFIX = "arc-"
NETNS_RE = re.compile(r"^arc-(cloud|machine)-(\d+)-[0-9a-f]+$")
CLOUD_IP = "198.18.0.1"
SQUID_IP = "198.18.0.2"
MACHINE_IP = "198.18.0.10"
GATEWAY_PORT = 8443
SQUID_PORT = 3128
# What the machine's hosts file maps to the cloud: every *.cloudsim.test name a part of the
# appliance uses (a hosts file has no wildcards).
CLOUD_NAMES = ["gw.cloudsim.test", "management.cloudsim.test", "echo.cloudsim.test",
	       "packages.cloudsim.test", "notify.cloudsim.test", "relay.cloudsim.test",
	       "login.cloudsim.test"]
TABLE = "arcfw"
COUNTERS = ["allow_arcproxy", "drop_arcproxy", "drop_himds", "drop_root", "drop_other"]


def _tool(name):
	return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def unavailable():
	"""Why the topology cannot be built here (a precise reason), or None."""
	if os.geteuid() != 0:
		return "network namespaces need root (running as uid %d)" % os.geteuid()
	for name, pkg in (("ip", "iproute2"), ("nft", "nftables"), ("setpriv", "util-linux")):
		if _tool(name) is None:
			return "%s is not installed (Debian package %s: make deps)" % (name, pkg)
	probe = "%sprobe-%d-%s" % (PREFIX, os.getpid(), secrets.token_hex(2))
	r = subprocess.run([_tool("ip"), "netns", "add", probe], capture_output=True, text=True)
	if r.returncode != 0:
		return "ip netns add fails here: %s" % (r.stderr.strip() or "exit %d" % r.returncode)
	try:
		r = subprocess.run([_tool("ip"), "netns", "exec", probe, _tool("nft"), "list", "tables"],
				   capture_output=True, text=True, timeout=10)
		if r.returncode != 0:
			return "nftables does not work in a namespace here: %s" % r.stderr.strip()
	finally:
		subprocess.run([_tool("ip"), "netns", "del", probe], capture_output=True)
	return None


def _pid_alive(pid):
	try:
		os.kill(pid, 0)
		return True
	except ProcessLookupError:
		return False
	except PermissionError:
		return True


def _kill_inside(name):
	r = subprocess.run([_tool("ip"), "netns", "pids", name], capture_output=True, text=True)
	for pid in r.stdout.split():
		try:
			os.kill(int(pid), signal.SIGKILL)
		except (OSError, ValueError):
			pass


def _remove(name):
	_kill_inside(name)
	subprocess.run([_tool("ip"), "netns", "del", name], capture_output=True)
	shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)


def sweep():
	"""Remove the namespaces (their processes, /etc/netns/<name>) that a killed run left: the
	ones named arc-cloud-<pid>-* or arc-machine-<pid>-* whose pid no longer runs. Returns them."""
	if os.geteuid() != 0 or _tool("ip") is None:
		return []
	r = subprocess.run([_tool("ip"), "netns", "list"], capture_output=True, text=True)
	stale = []
	for line in r.stdout.splitlines():
		name = line.split()[0] if line.split() else ""
		m = NETNS_RE.match(name)
		if m and not _pid_alive(int(m.group(2))):
			_remove(name)
			stale.append(name)
	if os.path.isdir("/etc/netns"):
		for name in os.listdir("/etc/netns"):
			m = NETNS_RE.match(name)
			if m and not _pid_alive(int(m.group(2))):
				shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)
	return stale


def ruleset(allow_ip=CLOUD_IP, allow_port=GATEWAY_PORT, user="arcproxy"):
	"""The machine's egress firewall (nft -f): loopback, and new TCP connections from user to
	allow_ip:allow_port; everything else is dropped and counted by who sent it."""
	return """\
# The arc appliance's egress firewall: only %(user)s may leave, only to %(ip)s:%(port)d.
table inet %(table)s {
	counter allow_arcproxy { }
	counter drop_arcproxy { }
	counter drop_himds { }
	counter drop_root { }
	counter drop_other { }
	chain output {
		type filter hook output priority filter; policy drop;
		oif "lo" accept
		ct state established,related accept
		meta skuid "%(user)s" ip daddr %(ip)s tcp dport %(port)d ct state new counter name allow_arcproxy accept
		meta skuid "%(user)s" counter name drop_arcproxy drop
		meta skuid "himds" counter name drop_himds drop
		meta skuid 0 counter name drop_root drop
		counter name drop_other drop
	}
}
""" % {"table": TABLE, "user": user, "ip": allow_ip, "port": allow_port}


class Topology:
	"""The two namespaces, the veth pair between them, the hosts files and the firewall."""

	def __init__(self):
		self.id = "%d-%s" % (os.getpid(), secrets.token_hex(3))
		self.cloud = "%scloud-%s" % (PREFIX, self.id)
		self.machine = "%smachine-%s" % (PREFIX, self.id)
		tag = self.id.replace("-", "")[-11:]
		self.veth_cloud = "arcc" + tag		# at most 15 characters
		self.veth_machine = "arcm" + tag
		self.created = []
		self.ip = _tool("ip")
		self.nft = _tool("nft")
		self.setpriv = _tool("setpriv")

	def ns(self, side):
		return {"cloud": self.cloud, "machine": self.machine}[side]

	def _ip(self, *args, ns=None):
		argv = [self.ip] + (["-n", ns] if ns else []) + list(args)
		r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
		if r.returncode != 0:
			raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
		return r.stdout

	def _etc(self, name, hosts):
		d = os.path.join("/etc/netns", name)
		os.makedirs(d, mode=0o755, exist_ok=True)
		for fname, text in (("hosts", hosts), ("resolv.conf",
				   "# %s: no DNS server; names come from the hosts file\nnameserver 127.0.0.1\n" % name)):
			with open(os.path.join(d, fname), "w") as f:
				f.write(text)
			os.chmod(os.path.join(d, fname), 0o644)

	def create(self):
		"""Both namespaces with their addresses, hosts files and loopbacks up (no firewall yet)."""
		sweep()
		try:
			for name in (self.cloud, self.machine):
				self._ip("netns", "add", name)
				self.created.append(name)
			# The pair is made with each end in its namespace: it never exists outside.
			self._ip("link", "add", self.veth_cloud, "netns", self.cloud, "type", "veth", "peer",
				 "name", self.veth_machine, "netns", self.machine)
			base = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
			self._etc(self.cloud, base)
			self._etc(self.machine, base + "# as DNS would answer: the cloud's names\n" +
				  "%s\t%s\n" % (CLOUD_IP, " ".join(CLOUD_NAMES)))
			for ns, dev, addrs in ((self.cloud, self.veth_cloud, (CLOUD_IP, SQUID_IP)),
					       (self.machine, self.veth_machine, (MACHINE_IP,))):
				# No IPv6 on the pair: no router or neighbour solicitations to count.
				self.run(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % dev],
					 check=True)
				for a in addrs:
					self._ip("addr", "add", a + "/24", "dev", dev, ns=ns)
				self._ip("link", "set", dev, "up", ns=ns)
				self._ip("link", "set", "lo", "up", ns=ns)
		except BaseException:
			self.destroy()
			raise
		return self

	def load_firewall(self, text):
		"""Replace the machine's nftables ruleset with text (nft -f syntax)."""
		r = subprocess.run([self.ip, "netns", "exec", self.machine, self.nft, "-f", "-"],
				   input="flush ruleset\n" + text, capture_output=True, text=True, timeout=20)
		if r.returncode != 0:
			raise RuntimeError("nft -f in %s: %s" % (self.machine, r.stderr.strip()))

	def counters(self):
		"""{counter name: packets} of the machine's firewall."""
		r = subprocess.run([self.ip, "netns", "exec", self.machine, self.nft, "-j", "list",
				    "counters", "table", "inet", TABLE], capture_output=True, text=True,
				   timeout=20)
		if r.returncode != 0:
			raise RuntimeError("nft list counters: %s" % r.stderr.strip())
		out = {}
		for item in json.loads(r.stdout).get("nftables", []):
			c = item.get("counter")
			if c:
				out[c["name"]] = c["packets"]
		return out

	def cmd(self, side, argv, user=None):
		"""argv run inside the namespace side ("cloud", "machine" or a namespace name), as user
		(a name; None = root, with root's groups)."""
		ns = self.ns(side) if side in ("cloud", "machine") else side
		pre = [self.ip, "netns", "exec", ns]
		if user:
			pre += [self.setpriv, "--reuid=" + user, "--regid=" + user, "--init-groups", "--"]
		return pre + [str(a) for a in argv]

	def run(self, side, argv, user=None, timeout=30, **kw):
		kw.setdefault("capture_output", True)
		kw.setdefault("text", True)
		return subprocess.run(self.cmd(side, argv, user), timeout=timeout, **kw)

	def popen(self, side, argv, user=None, **kw):
		return subprocess.Popen(self.cmd(side, argv, user), **kw)

	def destroy(self):
		"""Kill whatever still runs inside, remove both namespaces (the veth pair goes with
		them) and their /etc/netns entries. Safe to call twice."""
		for name in (self.cloud, self.machine):
			if os.path.exists(os.path.join("/run/netns", name)) or name in self.created:
				_remove(name)
			shutil.rmtree(os.path.join("/etc/netns", name), ignore_errors=True)
		self.created = []


# --- the appliance inside -----------------------------------------------------------

ONBOARDING_TOKEN = "firewall-onboarding-token"
OPERATOR = "127.0.0.1:8447"		# cloudsim's operator API, on the cloud's loopback
CONTROL = "127.0.0.1:8446"		# the control plane, reached only through the gateway
ECHO = CLOUD_IP + ":443"		# echo: a direct connection would succeed but for the firewall
PACKAGES = "127.0.0.1:8448"		# the package store, reached only through the gateway
NOTIFY = "127.0.0.1:8450"		# the notification channel (WebSocket), likewise
RELAY = "127.0.0.1:8451"		# remote sessions' relay, likewise
AGENTLETS = ["arcnotify", "extmgr", "guestconfig"]	# started after connect, when built


class Proc:
	"""A daemon started inside a namespace: its process and its stderr file."""

	def __init__(self, name, topo, side, argv, log, user=None):
		self.name, self.log_path = name, log
		self.log = open(log, "ab")
		self.proc = topo.popen(side, argv, user=user, stdin=subprocess.DEVNULL, stdout=self.log,
				       stderr=self.log)

	@property
	def pid(self):
		return self.proc.pid

	def alive(self):
		return self.proc.poll() is None

	def stop(self, timeout=10):
		"""SIGTERM, SIGKILL after timeout; the exit status (None if never started)."""
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait(5)
		self.log.close()
		return self.proc.returncode

	def text(self):
		try:
			with open(self.log_path, "rb") as f:
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	def tail(self, n=20):
		lines = self.text().splitlines()
		return "\n".join(["--- %s (%s), last %d lines:" % (self.name, self.log_path, n)] + lines[-n:])

	stderr_tail = tail	# as harness.Daemon names it (run.py prints env.proxy's on a failure)


def lc(value):
	"""A Python value as a libconfig literal (dicts groups, lists of dicts lists)."""
	if isinstance(value, bool):
		return "true" if value else "false"
	if isinstance(value, int):
		return str(value)
	if isinstance(value, str):
		return json.dumps(value)
	if isinstance(value, dict):
		return "{ %s }" % " ".join("%s = %s;" % (k, lc(v)) for k, v in value.items())
	if value and all(isinstance(x, dict) for x in value):
		return "( %s )" % ", ".join(lc(x) for x in value)
	return "[ %s ]" % ", ".join(lc(x) for x in value)


def write(path, text, mode=0o644):
	with open(path, "w") as f:
		f.write(text)
	os.chmod(path, mode)


def ensure_users():
	"""The daemons' users and group arc, as the package's sysusers.d (and conf/run.sh) make them."""
	try:
		grp.getgrnam("arc")
	except KeyError:
		subprocess.run(["groupadd", "--system", "arc"], check=True)
	for u in ("arcproxy", "himds", "arcnotify"):
		try:
			pwd.getpwnam(u)
		except KeyError:
			subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
					"/usr/sbin/nologin", u], check=True)
		if u not in grp.getgrnam("arc").gr_mem:
			subprocess.run(["usermod", "-a", "-G", "arc", u], check=True)


def wait_for(fn, timeout, interval=0.1):
	"""Poll fn until it returns something truthy (bounded); its last value."""
	deadline = time.monotonic() + timeout
	v = fn()
	while not v and time.monotonic() < deadline:
		time.sleep(interval)
		v = fn()
	return v


class Appliance:
	"""cloudsim (and Squid) in the cloud namespace, arcproxy and himds in the machine's, each
	with its own config, state and run dirs under work (a directory the daemons' users can
	enter). pki: a directory holding `cloudsim pki`'s output, copied in (None: made here)."""

	def __init__(self, topo, bin_dir, work, pki=None, name="fw-machine", heartbeat=2):
		self.topo, self.bin = topo, str(bin_dir)
		self.work = work
		self.name = name
		self.heartbeat = heartbeat
		self.cloud_dir = os.path.join(work, "cloud")
		self.pki = os.path.join(self.cloud_dir, "pki")
		self.etc = os.path.join(work, "etc")
		self.var = os.path.join(work, "var")
		self.rundir = os.path.join(work, "run")
		for d in (self.cloud_dir, self.etc, self.var, self.rundir):
			os.makedirs(d, mode=0o755)
			os.chmod(d, 0o755)
		if pki:
			shutil.copytree(pki, self.pki)
		else:
			r = subprocess.run([os.path.join(self.bin, "cloudsim"), "pki", self.pki],
					   capture_output=True, text=True, timeout=60)
			if r.returncode != 0:
				raise RuntimeError("cloudsim pki: %s" % r.stderr.strip())
		shutil.copy(os.path.join(self.pki, "ca.crt"), os.path.join(self.etc, "ca.crt"))
		os.chmod(os.path.join(self.etc, "ca.crt"), 0o644)
		write(os.path.join(self.cloud_dir, "token"), ONBOARDING_TOKEN + "\n", 0o600)
		self.cloudsim = self.squid = self.arcproxy = self.himds = None
		self.arcnotify = self.extmgr = self.guestconfig = None
		self.extra_hosts = []		# more cloudsim hosts entries (packages, notify...)
		self.cloud_settings = {}	# more cloudsim.conf groups or keys
		self.dirs = ["--config-dir", self.etc, "--state-dir", self.var, "--run-dir", self.rundir]

	# --- the cloud ---------------------------------------------------------------
	def cloudsim_conf(self):
		s = {
			"pki_dir": self.pki,
			"gateway": {"listen": "%s:%d" % (CLOUD_IP, GATEWAY_PORT),
				    "endpoints": ["*.cloudsim.test:443"], "head_timeout_ms": 5000},
			"echo": {"listen": ECHO},
			"control": {"listen": CONTROL, "operator_listen": OPERATOR,
				    "onboarding_tokens": [ONBOARDING_TOKEN],
				    "heartbeat_interval_seconds": self.heartbeat},
			"packages": {"listen": PACKAGES},
			"notify": {"listen": NOTIFY, "relay_listen": RELAY},
			# extra_hosts replace an entry of the same name
			"hosts": [h for h in ({"name": "echo.cloudsim.test", "target": ECHO},
					      {"name": "management.cloudsim.test", "target": CONTROL},
					      {"name": "packages.cloudsim.test", "target": PACKAGES},
					      {"name": "notify.cloudsim.test", "target": NOTIFY},
					      {"name": "relay.cloudsim.test", "target": RELAY})
				  if h["name"] not in {x["name"] for x in self.extra_hosts}] + self.extra_hosts,
		}
		s.update(self.cloud_settings)
		return "# generated by tests/integration/netns.py: cloudsim in %s\n" % self.topo.cloud + \
			"".join("%s = %s;\n" % (k, lc(v)) for k, v in s.items())

	def start_cloudsim(self, timeout=10):
		write(os.path.join(self.cloud_dir, "cloudsim.conf"), self.cloudsim_conf())
		self.cloudsim = Proc("cloudsim", self.topo, "cloud",
				     [os.path.join(self.bin, "cloudsim"), "-d", "--config-dir", self.cloud_dir,
				      "--state-dir", self.cloud_dir], os.path.join(self.cloud_dir, "stderr.log"))
		if not wait_for(lambda: not self.cloudsim.alive() or self.cloud_listens(), timeout) or \
		   not self.cloudsim.alive():
			raise RuntimeError("cloudsim did not start in %s\n%s" % (self.topo.cloud, self.cloudsim.tail()))
		return self.cloudsim

	def cloud_listens(self):
		"""Whether the gateway and the operator API accept connections (ss in the cloud)."""
		r = self.topo.run("cloud", ["ss", "-Htln"])
		return all(a in r.stdout for a in ("%s:%d" % (CLOUD_IP, GATEWAY_PORT), OPERATOR))

	def start_squid(self, log_dir=None):
		"""Squid on 198.18.0.2:3128 in the cloud: CONNECT to the gateway (198.18.0.1:8443) only."""
		d = log_dir or os.path.join(self.work, "squid")
		os.makedirs(d, mode=0o755, exist_ok=True)
		os.chmod(d, 0o777)
		self.squid_access = os.path.join(d, "access.log")
		write(os.path.join(d, "hosts"), "%s gw.cloudsim.test\n" % CLOUD_IP)
		write(os.path.join(d, "squid.conf"), "\n".join([
			"# generated by tests/integration/netns.py: the enterprise proxy; only the gateway",
			"http_port %s:%d" % (SQUID_IP, SQUID_PORT),
			"workers 1",
			"acl gateway dst %s/32" % CLOUD_IP,
			"acl gateway_port port %d" % GATEWAY_PORT,
			"http_access allow CONNECT gateway gateway_port",
			"http_access deny all",
			"cache deny all",
			"cache_mem 0 MB",
			"hosts_file %s/hosts" % d,
			"dns_nameservers 127.0.0.1",
			"access_log stdio:%s squid" % self.squid_access,
			"cache_log %s/cache.log" % d,
			"cache_store_log none",
			"pid_filename %s/squid.pid" % d,
			"coredump_dir %s" % d,
			"shutdown_lifetime 0 seconds",
			"logfile_rotate 0",
			"pinger_enable off",
			"buffered_logs off",
		]) + "\n")
		self.squid = Proc("squid", self.topo, "cloud", ["squid", "-N", "-f", os.path.join(d, "squid.conf")],
				  os.path.join(d, "stderr.log"))
		ok = wait_for(lambda: not self.squid.alive() or "%s:%d" % (SQUID_IP, SQUID_PORT) in
			      self.topo.run("cloud", ["ss", "-Htln"]).stdout, 15)
		if not ok or not self.squid.alive():
			raise RuntimeError("squid did not start in %s\n%s" % (self.topo.cloud, self.squid.tail()))
		return self.squid

	def squid_log(self):
		try:
			with open(self.squid_access) as f:
				return f.read()
		except (OSError, AttributeError):
			return ""

	def operator(self, method, path, body=None):
		"""cloudsim's operator API, from inside the cloud: (status, parsed JSON or None)."""
		argv = ["curl", "-sS", "-m", "5", "-o", "-", "-w", "\n%{http_code}", "-X", method]
		if body is not None:
			argv += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
		r = self.topo.run("cloud", argv + ["http://%s%s" % (OPERATOR, path)], timeout=15)
		text, _, code = r.stdout.rpartition("\n")
		try:
			return int(code), json.loads(text) if text.strip() else None
		except ValueError:
			return int(code or 0), None

	# --- the machine ---------------------------------------------------------------
	def write_machine_conf(self):
		write(os.path.join(self.etc, "arcproxy.conf"),
		      "# generated by tests/integration/netns.py: names come from the namespace's /etc/hosts\n"
		      'listen = [ "127.0.0.1:40343" ];\nadmin_listen = "127.0.0.1:40344";\n'
		      "# SIGTERM: a second for the agentlets' kept connections, not ten\n"
		      "limits = { drain_timeout_ms = 1000; };\n")
		write(os.path.join(self.etc, "himds.conf"),
		      "# generated by tests/integration/netns.py\n"
		      'listen = [ "127.0.0.1:40342" ];\nproxy = "http://127.0.0.1:40343";\n'
		      "heartbeat_interval_seconds = %d;\ncloud_timeout_seconds = 5;\n" % self.heartbeat)

	def start_machine(self, timeout=10):
		"""arcproxy and himds, started as root in the machine: each becomes its own user."""
		ensure_users()
		self.write_machine_conf()
		self.arcproxy = Proc("arcproxy", self.topo, "machine",
				     [os.path.join(self.bin, "arcproxy"), "-d"] + self.dirs,
				     os.path.join(self.work, "arcproxy.log"))
		self.wait_machine_port(self.arcproxy, 40343, timeout)
		self.himds = Proc("himds", self.topo, "machine",
				  [os.path.join(self.bin, "himds"), "-d", "-v"] + self.dirs,
				  os.path.join(self.work, "himds.log"))
		self.wait_machine_port(self.himds, 40342, timeout)

	def agentlets(self):
		"""The agentlets beyond himds that this build has (arcnotify, extmgr, guestconfig)."""
		return [n for n in AGENTLETS if os.path.exists(os.path.join(self.bin, n))]

	def start_agentlets(self, poll=1, evaluation=2, timeout=10):
		"""arcnotify (its own user), extmgr and guestconfig (root), when built, as installed:
		they reach the cloud through arcproxy only; poll: seconds between goal-state fetches."""
		confs = {
			"arcnotify": "backoff_min_ms = 500;\nbackoff_max_ms = 4000;\n",
			"extmgr": "poll_seconds = %d;\ncloud_timeout_seconds = 5;\ndownload_backoff_ms = 200;\n"
				  "download_attempts = 5;\n" % poll,
			"guestconfig": "poll_seconds = %d;\nevaluation_seconds = %d;\ncloud_timeout_seconds = 5;\n"
				       % (poll, evaluation),
		}
		for name in self.agentlets():
			write(os.path.join(self.etc, "notify.conf" if name == "arcnotify" else name + ".conf"),
			      "# generated by tests/integration/netns.py\nproxy = \"http://127.0.0.1:40343\";\n" + confs[name])
			proc = Proc(name, self.topo, "machine", [os.path.join(self.bin, name), "-d", "-v"] + self.dirs,
				    os.path.join(self.work, name + ".log"))
			setattr(self, name, proc)
			if not wait_for(lambda: not proc.alive() or re.search(r"\bstarted\b", proc.text()), timeout) \
			   or not proc.alive():
				raise RuntimeError("%s did not start in %s\n%s" % (name, self.topo.machine, proc.tail()))

	def wait_machine_port(self, proc, port, timeout):
		ok = wait_for(lambda: not proc.alive() or ":%d " % port in
			      self.topo.run("machine", ["ss", "-Htln"]).stdout + " ", timeout)
		if not ok or not proc.alive():
			raise RuntimeError("%s did not listen on %d in %s\n%s" % (proc.name, port,
										   self.topo.machine, proc.tail()))

	def azcm(self, *args, timeout=60):
		return self.topo.run("machine", [os.path.join(self.bin, "azcmagent"), *args] + self.dirs,
				     timeout=timeout)

	def connect(self, extra=()):
		return self.azcm("connect", "--cloud-url", "https://management.cloudsim.test",
				 "--gateway-url", "https://gw.cloudsim.test:%d" % GATEWAY_PORT,
				 "--ca-file", os.path.join(self.etc, "ca.crt"),
				 "--onboarding-token-file", os.path.join(self.cloud_dir, "token"),
				 "--resource-name", self.name, *extra)

	def machine_curl(self, *args, user=None, timeout=20, **kw):
		"""curl inside the machine, as user (None: root); no proxy from the environment."""
		env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
		return self.topo.run("machine", ["curl", "-sS", *args], user=user, timeout=timeout, env=env, **kw)

	def admin(self, path):
		"""arcproxy's admin API from inside the machine: (status, body text)."""
		r = self.machine_curl("-m", "5", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:40344" + path)
		text, _, code = r.stdout.rpartition("\n")
		return int(code or 0), text

	def access_log(self):
		try:
			with open(os.path.join(self.var, "arcproxy", "arcproxy-access.log")) as f:
				return f.read().splitlines()
		except OSError:
			return []

	def procs(self):
		return [p for p in (self.guestconfig, self.extmgr, self.arcnotify, self.himds, self.arcproxy,
				    self.squid, self.cloudsim) if p is not None]

	def stop(self):
		"""Stop every daemon (machine first); {name: exit status}."""
		return {p.name: p.stop() for p in self.procs()}
