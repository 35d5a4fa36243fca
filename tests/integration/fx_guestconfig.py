"""fx_guestconfig.py -- guestconfig against the real cloud: cloudsim (control plane, package store,
operator API), arcproxy in gateway mode, the machine connected with azcmagent, and guestconfig
(as root, as installed) on the same config, state and run dirs.  Packages are made with
`cloudsim gc-pack` into cloudsim's package store; the targets live under a temp dir.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import fixtures
import harness
from fixtures import ArcProxy, Sim, ensure_users, make_pki, share_state_dir, stop_problems
from harness import check, poll

GUESTCONFIG = harness.BIN_DIR / "guestconfig"
AZCMAGENT = harness.BIN_DIR / "azcmagent"
TOKEN = "gc-it-onboarding-token"
MACHINE = "gc-it-m1"
PUBLISHER = "Cloudsim.GuestConfiguration"
GW_HOSTS = [{"name": "gw.cloudsim.test", "address": "127.0.0.1"}]


class Guestconfig(harness.Daemon):
	"""guestconfig on arcproxy's config, state and run dirs (as the appliance installs them)."""

	name = "guestconfig"

	def __init__(self, p, **settings):
		self.p = p
		self.base = p.base
		self.stderr_path = os.path.join(p.base, "guestconfig.log")
		self.proc = None
		self.settings = {"proxy": "http://127.0.0.1:%d" % p.port, "poll_seconds": 1,
				 "evaluation_seconds": 2, "cloud_timeout_seconds": 10,
				 "command_timeout_seconds": 10}
		self.settings.update(settings)
		self.write_config()

	def write_config(self):
		path = os.path.join(self.p.conf_dir, "guestconfig.conf")
		with open(path, "w") as f:
			f.write(harness.conf_text(self.settings))
		os.chmod(path, 0o644)

	def command(self, *args):
		return [str(GUESTCONFIG), *args, "--config-dir", self.p.conf_dir, "--state-dir",
			self.p.state_dir, "--run-dir", self.p.run_dir]

	def start(self):
		check(GUESTCONFIG.exists(), "guestconfig not found: %s (make, or set ARC_BIN)" % GUESTCONFIG)
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen(self.command("-d", "-v"), stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file)
		check(self.log_has(r"gc_run: started", timeout=5),
		      "guestconfig did not start\n%s" % self.stderr_tail())
		return self

	def reload(self):
		self.proc.send_signal(signal.SIGHUP)

	def own_dir(self):
		return os.path.join(self.p.state_dir, "guestconfig")

	def state(self):
		try:
			with open(os.path.join(self.own_dir(), "guestconfig.json")) as f:
				return json.load(f)
		except (OSError, ValueError):
			return {}

	def change_log(self):
		try:
			with open(os.path.join(self.own_dir(), "changes.log")) as f:
				return f.read()
		except OSError:
			return ""

	def pss_anon_kib(self):
		with open("/proc/%d/smaps_rollup" % self.proc.pid) as f:
			m = re.search(r"^Pss_Anon:\s+(\d+) kB", f.read(), re.M)
		return int(m.group(1)) if m else None


class GcEnv:
	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail on failure
		self.sim = None
		self.arcproxy = None
		self.gc = None
		self.tmp = None		# docs, targets (root's), the unprivileged user's dir
		self.names = []		# assignments made, removed at teardown


def operator(sim, method, path, body=None):
	"""cloudsim's operator API: (status, parsed JSON or None)."""
	c = http.client.HTTPConnection("127.0.0.1", sim.operator_port, timeout=10)
	try:
		data = json.dumps(body) if body is not None else None
		c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
		r = c.getresponse()
		raw = r.read()
	finally:
		c.close()
	try:
		return r.status, json.loads(raw)
	except ValueError:
		return r.status, None


def apath(name=""):
	return "/operator/machines/%s/guestConfigurationAssignments%s" % (MACHINE, "/" + name if name else "")


def connect(env):
	"""azcmagent connect (as root) through arcproxy and the gateway, then arcproxy presents the
	machine certificate (connect tells the running daemons to reload)."""
	p = env.arcproxy
	token = os.path.join(env.tmp, "token")
	with open(token, "w") as f:
		f.write(TOKEN + "\n")
	ca = os.path.join(p.conf_dir, "ca.crt")
	before = len(re.findall("configuration reloaded", p.stderr_text()))
	r = subprocess.run([str(AZCMAGENT), "connect", "--config-dir", p.conf_dir, "--state-dir", p.state_dir,
			    "--run-dir", p.run_dir, "--cloud-url", "https://management.cloudsim.test",
			    "--gateway-url", "https://gw.cloudsim.test:%d" % env.sim.gw_port, "--ca-file", ca,
			    "--onboarding-token-file", token, "--resource-name", MACHINE],
			   capture_output=True, text=True, timeout=60)
	check(r.returncode == 0, "azcmagent connect: exit %d: %s%s" % (r.returncode, r.stderr, r.stdout))
	if not poll(lambda: len(re.findall("configuration reloaded", p.stderr_text())) > before, timeout=3):
		p.reload()
		check(poll(lambda: len(re.findall("configuration reloaded", p.stderr_text())) > before, timeout=5),
		      "arcproxy did not reload after connect\n%s" % p.stderr_tail())


def gc_env(**settings):
	"""cloudsim, arcproxy (gateway mode), the machine connected, guestconfig started."""
	env = GcEnv()
	try:
		check(AZCMAGENT.exists(), "azcmagent not found: %s" % AZCMAGENT)
		ensure_users()
		env.tmp = tempfile.mkdtemp(prefix="gc-", dir=harness.tmp_root())
		os.chmod(env.tmp, 0o755)
		sim = env.sim = Sim()
		sim.control = {"onboarding_tokens": [TOKEN], "heartbeat_interval_seconds": 60}
		sim.management = "control"
		make_pki(sim)
		sim.write_config()
		sim.start()
		p = env.arcproxy = ArcProxy(hosts=GW_HOSTS, name="gc-gw")
		p.install_run_dir()	# root's, as /run/arc: guestconfig (root) refuses the user's
		p.settings.pop("default_route")
		p.write_config()
		shutil.copy(sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
		os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
		p.write_agent_conf(gateway_agent_conf(env))
		share_state_dir(p.state_dir)
		env.proxy = p
		p.start()
		connect(env)
		settings.setdefault("packages_ca", sim.file("pkgsign-ca.crt"))
		env.gc = Guestconfig(p, **settings)
		env.gc.start()
		env.proxy = env.gc
	except BaseException:
		stop_gc_env(env)
		raise
	return env


def gateway_agent_conf(env, extra=""):
	return ('connection = { type = "gateway"; };\n'
		'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt"; };\n%s'
		% (env.sim.gw_port, extra))


def set_local(env, extra):
	"""agent.conf with the gateway settings plus extra, then SIGHUP to guestconfig alone."""
	env.arcproxy.write_agent_conf(gateway_agent_conf(env, extra))
	env.gc.reload()


def stop_gc_env(env):
	problems = []
	if env.gc is not None:
		problems += stop_problems(env.gc, "guestconfig")
	if env.arcproxy is not None:
		problems += stop_problems(env.arcproxy, "arcproxy")
	if env.sim is not None:
		problems += stop_problems(env.sim, "cloudsim")
	if not problems and not harness.KEEP:
		if env.arcproxy is not None:
			env.arcproxy.cleanup()
		if env.sim is not None:
			env.sim.cleanup()
		if env.tmp:
			shutil.rmtree(env.tmp, ignore_errors=True)
	return problems


# --- packages and assignments ----------------------------------------------------

def store_dir(env):
	return os.path.join(env.sim.state_dir, "packages")


def pack(env, doc, name, version="1.0.0", publisher=None, raw=None, pki=None):
	"""`cloudsim gc-pack` into the store: (contentUri, contentHash)."""
	d = tempfile.mkdtemp(prefix="doc-", dir=env.sim.base)
	if env.sim.user:
		os.chown(d, env.sim.user.pw_uid, env.sim.user.pw_gid)
	src = os.path.join(d, name + ".json")
	with open(src, "w") as f:
		f.write(raw if raw is not None else json.dumps(doc))
	os.chmod(src, 0o644)
	args = ["gc-pack", src, "--name", name, "--version", version, "-o", store_dir(env), "--pki",
		pki or env.sim.pki]
	if publisher:
		args += ["--publisher", publisher]
	r = env.sim.run(*args)
	check(r.returncode == 0, "cloudsim gc-pack: exit %d: %s" % (r.returncode, r.stderr))
	with open(os.path.join(store_dir(env), "%s-%s.json" % (name, version))) as f:
		entry = json.load(f)
	return "https://packages.cloudsim.test/packages/" + entry["file"], entry["sha256"]


def sign(env, zip_path, name, version="1.0.0", kind="guestconfiguration", publisher=PUBLISHER):
	"""zip_path.p7s: publisher's signature of the store's zip_path as the guest configuration (or,
	with kind "extension", the extension type) name at version, by `cloudsim pkg-sign`."""
	r = env.sim.run("pkg-sign", zip_path, "--kind", kind, "--publisher", publisher, "--name", name,
			"--version", version, "--pki", env.sim.pki)
	check(r.returncode == 0, "cloudsim pkg-sign: exit %d: %s" % (r.returncode, r.stderr))


def sign_old_format(env, zip_path, publisher=PUBLISHER):
	"""zip_path.p7s as packages were signed before the signature named them: the zip's bytes,
	detached (openssl cms -sign)."""
	pub = os.path.join(env.sim.pki, "publishers", publisher)
	r = subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", zip_path, "-signer", pub + ".crt",
			    "-inkey", pub + ".key", "-outform", "DER", "-out", zip_path + ".p7s", "-md", "sha256",
			    "-nosmimecap"], capture_output=True, text=True)
	check(r.returncode == 0, "openssl cms -sign: %s" % r.stderr)
	os.chmod(zip_path + ".p7s", 0o644)


def assign(env, name, uri, sha, kind="ApplyAndAutoCorrect", params=(), expect=(200, 201)):
	status, body = operator(env.sim, "PUT", apath(name), {
		"contentUri": uri, "contentHash": sha, "assignmentType": kind,
		"configurationParameter": [{"name": k, "value": v} for k, v in params]})
	check(status in expect, "PUT assignment %s: %d %r" % (name, status, body))
	if name not in env.names:
		env.names.append(name)
	return body


def unassign(env, name):
	status, body = operator(env.sim, "DELETE", apath(name))
	check(status in (200, 404), "DELETE assignment %s: %d %r" % (name, status, body))
	if name in env.names:
		env.names.remove(name)


def unassign_all(env):
	for name in list(env.names):
		unassign(env, name)


def assignment(env, name):
	status, body = operator(env.sim, "GET", apath(name))
	check(status == 200, "GET assignment %s: %d %r" % (name, status, body))
	return body


def reports(env, name):
	return assignment(env, name).get("history") or []


def wait_report(env, name, pred, what, timeout=15, after=0):
	"""The first report (of those after the first `after`) for which pred holds."""
	def seen():
		for r in reports(env, name)[after:]:
			if pred(r):
				return r
		return None
	r = poll(seen, timeout=timeout, interval=0.2)
	check(r, "%s: no such report of %s within %ds; history:\n%s\n%s" % (
		what, name, timeout, json.dumps(reports(env, name), indent=1)[-3000:], env.gc.stderr_tail()))
	return r


def reasons(report):
	"""Every reason phrase of the report's resources, one string."""
	return "\n".join(r.get("phrase", "") for res in report["details"]["resources"]
			 for r in res.get("reasons", []))


def resource(report, rid):
	for res in report["details"]["resources"]:
		if res["properties"]["ResourceId"] == rid:
			return res
	raise AssertionError("no resource %s in the report: %r" % (rid, report))


def targets(env, name):
	"""A fresh directory for a test's target files (root's 0755)."""
	d = os.path.join(env.tmp, "targets-" + name)
	os.mkdir(d, 0o755)
	return d


def snapshot(paths):
	"""{path: (sha256 of the content or of a directory's names, mode, mtime_ns, uid)}; None when
	the path does not exist."""
	out = {}
	for p in paths:
		try:
			st = os.lstat(p)
		except FileNotFoundError:
			out[p] = None
			continue
		if os.path.isdir(p):
			digest = hashlib.sha256("\0".join(sorted(os.listdir(p))).encode()).hexdigest()
		else:
			with open(p, "rb") as f:
				digest = hashlib.sha256(f.read()).hexdigest()
		out[p] = (digest, st.st_mode, st.st_mtime_ns, st.st_uid)
	return out


def write(path, data, mode=0o644):
	with open(path, "w") as f:
		f.write(data)
	os.chmod(path, mode)


def mode_of(path):
	return os.lstat(path).st_mode & 0o7777


def read(path):
	with open(path) as f:
		return f.read()


def wait_quiet(seconds):
	"""Let evaluations happen (bounded): used only where the point is that nothing changes."""
	time.sleep(seconds)


def parse_time(text):
	"""A report's RFC 3339 time (with milliseconds) as epoch seconds."""
	import calendar
	base, _, frac = text.rstrip("Z").partition(".")
	return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0)
