"""fx_extmgr.py -- fixtures for extmgr's tests: cloudsim with its control plane and package store,
arcproxy in gateway mode, a registered machine, himds, extmgr, and helpers to publish samples and
drive the operator API."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile

import fixtures
import harness
from fixtures import (CLOUD_URL, ROOT, ArcProxy, Sim, identity_dir, machine_json, new_himds, put_ca,
		      put_file, read_key, share_state_dir)
from harness import check, curl, free_port, poll

EXTMGR = harness.BIN_DIR / "extmgr"
AZCMAGENT = harness.BIN_DIR / "azcmagent"
SAMPLES = os.path.join(harness.REPO, "samples", "extensions")
PUBLISHER = "Cloudsim.Samples"
ONBOARDING_TOKEN = "extmgr-onboarding-token"
TYPES = {"hello": "Hello", "token": "Token", "slow": "Slow", "failing": "Failing"}


class ExtSim(Sim):
	"""cloudsim with the control plane behind management.cloudsim.test and a package store."""

	def __init__(self):
		super().__init__()
		self.management = "control"
		self.packages_dir = os.path.join(self.base, "packages")
		os.mkdir(self.packages_dir)
		os.chmod(self.packages_dir, 0o755)
		self.control = {"onboarding_tokens": [ONBOARDING_TOKEN], "heartbeat_interval_seconds": 60}

	def settings(self):
		s = super().settings()
		s["packages"]["dir"] = self.packages_dir
		return s

	def operator(self, method, path, body=None):
		c = http.client.HTTPConnection("127.0.0.1", self.operator_port, timeout=10)
		try:
			c.request(method, path, body=json.dumps(body) if body is not None else None,
				  headers={"Content-Type": "application/json"})
			r = c.getresponse()
			data = r.read()
		finally:
			c.close()
		try:
			return r.status, json.loads(data) if data else None
		except ValueError:
			return r.status, data


class Extmgr(harness.Daemon):
	"""extmgr on its own config dir (extmgr.conf, agent.conf, packages-ca.crt), the machine's
	state dir and a run dir of its own."""

	name = "extmgr"

	def __init__(self, state_dir, **settings):
		self.base = tempfile.mkdtemp(prefix="extmgr-", dir=harness.tmp_root())
		os.chmod(self.base, 0o755)
		self.conf_dir = os.path.join(self.base, "conf")
		self.run_dir = os.path.join(self.base, "run")
		os.mkdir(self.conf_dir)
		os.mkdir(self.run_dir)
		self.state_dir = state_dir
		self.stderr_path = os.path.join(self.base, "stderr.log")
		self.settings = {"poll_seconds": 1, "download_backoff_ms": 100, "cloud_timeout_seconds": 10,
				 "download_stall_seconds": 10}
		self.settings.update(settings)
		self.proc = None
		self.write_config()
		self.write_agent_conf("")

	def write_config(self):
		with open(os.path.join(self.conf_dir, "extmgr.conf"), "w") as f:
			f.write(harness.conf_text(self.settings))

	def write_agent_conf(self, text):
		with open(os.path.join(self.conf_dir, "agent.conf"), "w") as f:
			f.write(text)

	def own(self, *parts):
		return os.path.join(self.state_dir, "extmgr", *parts)

	def start(self):
		check(EXTMGR.exists(), "extmgr binary not found: %s" % EXTMGR)
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen([str(EXTMGR), "-d", "-v", "--config-dir", self.conf_dir,
					      "--state-dir", self.state_dir, "--run-dir", self.run_dir],
					     stdin=subprocess.DEVNULL, stdout=self.stderr_file,
					     stderr=self.stderr_file)
		check(poll(lambda: os.path.exists(os.path.join(self.run_dir, "extmgr.pid")) or not self.alive(),
			   timeout=5), "extmgr wrote no pid file\n" + self.stderr_tail())
		check(self.alive(), "extmgr exited %s\n%s" % (self.proc.returncode, self.stderr_tail()))
		return self

	def signal(self, sig):
		self.proc.send_signal(sig)

	def reload(self):
		self.signal(signal.SIGHUP)

	def state(self):
		try:
			with open(self.own("state.json")) as f:
				return json.load(f)
		except (OSError, ValueError):
			return {"extensions": {}}

	def record(self, name):
		return self.state()["extensions"].get(name)

	def calls(self, type_name):
		try:
			with open(self.own("logs", "%s.%s" % (PUBLISHER, type_name), "calls.log")) as f:
				return f.read().split("\n")[:-1]
		except OSError:
			return []

	def cleanup(self):
		self.kill()
		try:
			self.stderr_file.close()
		except AttributeError:
			pass
		if not harness.KEEP:
			shutil.rmtree(self.base, ignore_errors=True)


class ExtEnv:
	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail on failure
		self.sim = None
		self.arcproxy = None
		self.himds = None
		self.extmgr = None
		self.state_dir = None
		self.machine = "extmgr-it"
		self.himdses = []
		self.proxies = []
		self.sims = []
		self.extmgrs = []
		self.tmp = tempfile.mkdtemp(prefix="extmgr-env-", dir=harness.tmp_root())
		os.chmod(self.tmp, 0o755)
		self.published = set()


def register(env, p, sim, state_dir, name):
	"""As azcmagent connect does it: key and CSR here, register through arcproxy, the state files.
	Returns the register answer."""
	own = identity_dir(state_dir)
	key = os.path.join(own, "machine.key")
	subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
		       check=True, capture_output=True)
	csr = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + name],
			     check=True, capture_output=True, text=True).stdout
	put_file(key, read_key(key), 0o640)
	body = json.dumps({"onboardingToken": ONBOARDING_TOKEN, "csr": csr, "name": name,
			   "agentVersion": "test"})
	r = curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", sim.file("ca.crt"),
		 "-H", "Content-Type: application/json", "--data-binary", body, "-w", "\n%{http_code}",
		 CLOUD_URL + "/machines/register", timeout=30)
	text, _, code = r.stdout.decode("utf-8", "replace").rpartition("\n")
	check(r.returncode == 0 and code == "201", "register: exit %d, HTTP %s: %s" % (r.returncode, code, text[:300]))
	answer = json.loads(text)
	put_file(os.path.join(own, "machine.crt"), answer["certificate"], 0o644)
	put_file(os.path.join(state_dir, "machine.json"),
		 machine_json(answer["resource"], put_ca(sim, state_dir), 60), 0o644)
	return answer


def extmgr_env(**settings):
	"""cloudsim (control plane, package store), arcproxy in gateway mode, the machine registered
	through them, himds on its identity, and extmgr (env.extmgr, polling every second)."""
	env = ExtEnv()
	try:
		fixtures.ensure_users()
		sim = env.sim = ExtSim()
		env.sims.append(sim)
		fixtures.make_pki(sim)
		sim.write_config()
		sim.start()
		p = ArcProxy(hosts=[{"name": "gw.cloudsim.test", "address": "127.0.0.1"}], name="extmgr-gw")
		p.settings.pop("default_route")
		p.write_config()
		shutil.copy(sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
		os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
		p.write_agent_conf('connection = { type = "gateway"; };\n'
				   'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt"; };\n'
				   % sim.gw_port)
		share_state_dir(p.state_dir)
		env.proxies.append(p)
		env.arcproxy = env.proxy = p
		p.start()
		env.state_dir = p.state_dir
		answer = register(env, p, sim, p.state_dir, env.machine)
		p.reload()
		check(poll(lambda: "configuration reloaded" in p.stderr_text()), "arcproxy did not reload")
		h = env.himds = new_himds(env, "extmgr-himds", state_dir=p.state_dir,
					  proxy="http://127.0.0.1:%d" % p.port)
		h.start()
		env.ca_pem = answer.get("packageSigningCertificates")
		env.extmgr = new_extmgr(env, **settings)
		env.extmgr.start()
	except BaseException:
		stop_extmgr_env(env)
		raise
	return env


def new_extmgr(env, **settings):
	s = {"proxy": "http://127.0.0.1:%d" % env.arcproxy.port,
	     "himds_endpoint": "http://127.0.0.1:%d" % env.himds.port}
	s.update(settings)
	x = Extmgr(env.state_dir, **s)
	ca = env.ca_pem
	if not ca:
		with open(env.sim.file("pkgsign-ca.crt")) as f:
			ca = f.read()
	put_file(os.path.join(x.conf_dir, "packages-ca.crt"), ca, 0o644)
	env.extmgrs.append(x)
	return x


def stop_extmgr_env(env):
	problems = []
	for x in env.extmgrs:
		if x.proc is not None and x.proc.poll() is not None and x.proc.returncode not in (0, -9):
			problems.append("extmgr %s exited %s\n%s" % (x.base, x.proc.returncode, x.stderr_tail()))
		if x.alive():
			rc = x.stop()
			if rc != 0:
				problems.append("extmgr exited %s on SIGTERM\n%s" % (rc, x.stderr_tail()))
		rep = x.sanitizer_report()
		if rep:
			problems.append("extmgr sanitizer: %s\n%s" % (rep, x.stderr_tail(40)))
	for h in env.himdses:
		problems += h.problems()
	for p in env.proxies:
		problems += fixtures.stop_problems(p, "arcproxy")
	for sim in env.sims:
		problems += fixtures.stop_problems(sim, "cloudsim")
	if not problems and not harness.KEEP:
		for x in env.extmgrs:
			x.cleanup()
		for h in env.himdses:
			h.cleanup()
		for p in env.proxies:
			p.cleanup()
		for sim in env.sims:
			sim.cleanup()
		shutil.rmtree(env.tmp, ignore_errors=True)
	return problems


# --- packages ----------------------------------------------------------------------

def publish(env, sample, version, handler_dir=None, publisher=PUBLISHER, type_name=None):
	"""cloudsim ext-pack of a sample (or handler_dir) into the package store; the file name."""
	type_name = type_name or TYPES[sample]
	key = (publisher, type_name, version)
	fname = "%s.%s-%s.zip" % key
	if key in env.published and handler_dir is None:
		return fname
	src = handler_dir
	if src is None:
		# The sample and the common.sh it sources, as pack.sh packs them.
		src = os.path.join(env.tmp, "sample-" + sample)
		shutil.rmtree(src, ignore_errors=True)
		shutil.copytree(os.path.join(SAMPLES, sample), src)
		shutil.copy2(os.path.join(SAMPLES, "common.sh"), src)
	r = subprocess.run([str(fixtures.CLOUDSIM), "ext-pack", src, "--publisher", publisher, "--type", type_name,
			    "--version", version, "-o", env.sim.packages_dir, "--pki", env.sim.pki],
			   capture_output=True, text=True, timeout=60)
	check(r.returncode == 0, "ext-pack %s: %s%s" % (src, r.stdout, r.stderr))
	for n in os.listdir(env.sim.packages_dir):
		os.chmod(os.path.join(env.sim.packages_dir, n), 0o644)
	env.published.add(key)
	return fname


def handler_dir(env, name, files):
	"""A handler directory in env.tmp with files {name: (text, mode)}."""
	d = os.path.join(env.tmp, name)
	shutil.rmtree(d, ignore_errors=True)
	os.makedirs(d)
	for n, (text, mode) in files.items():
		p = os.path.join(d, n)
		os.makedirs(os.path.dirname(p), exist_ok=True)
		with open(p, "w") as f:
			f.write(text)
		os.chmod(p, mode)
	return d


def package_path(env, fname):
	return os.path.join(env.sim.packages_dir, fname)


def rewrite_catalog(env, fname, **fields):
	"""Changes the catalog entry of fname (the .json beside it)."""
	path = package_path(env, fname)[:-len(".zip")] + ".json"
	with open(path) as f:
		entry = json.load(f)
	entry.update(fields)
	with open(path, "w") as f:
		json.dump(entry, f)


def sha256_file(path):
	import hashlib
	h = hashlib.sha256()
	with open(path, "rb") as f:
		for b in iter(lambda: f.read(1 << 20), b""):
			h.update(b)
	return h.hexdigest()


# --- the operator's side -----------------------------------------------------------

def deploy(env, ext, sample=None, version="1.0", settings=None, protected=None, type_name=None,
	   publisher=PUBLISHER):
	body = {"publisher": publisher, "type": type_name or TYPES[sample], "version": version,
		"publicSettings": settings or {}}
	if protected is not None:
		body["protectedSettings"] = protected
	status, view = env.sim.operator("PUT", "/operator/machines/%s/extensions/%s" % (env.machine, ext), body)
	check(status in (200, 201), "operator PUT %s: %s %r" % (ext, status, view))
	return view


def undeploy(env, ext):
	status, view = env.sim.operator("DELETE", "/operator/machines/%s/extensions/%s" % (env.machine, ext))
	check(status == 200, "operator DELETE %s: %s %r" % (ext, status, view))
	return view


def view(env, ext):
	status, v = env.sim.operator("GET", "/operator/machines/%s/extensions/%s" % (env.machine, ext))
	return v if status == 200 else None


def wait_status(env, ext, seq, status=("success",), operation=None, timeout=30):
	"""Polls the operator's view until the machine reported status for seq; the view."""
	def done():
		v = view(env, ext)
		s = (v or {}).get("status") or {}
		if s.get("sequenceNumber") == seq and s.get("status") in status and \
		   (operation is None or s.get("operation") == operation):
			return v
		return None
	v = poll(done, timeout=timeout, interval=0.2)
	check(v, "%s seq %d: no %s%s report within %ds; last: %r\n%s" % (
		ext, seq, "/".join(status), " " + operation if operation else "", timeout,
		(view(env, ext) or {}).get("status"), env.extmgr.stderr_tail(30)))
	return v


def wait_gone(env, ext, timeout=30):
	check(poll(lambda: view(env, ext) is None, timeout=timeout, interval=0.2),
	      "%s is still in the cloud: %r\n%s" % (ext, view(env, ext), env.extmgr.stderr_tail(30)))


def ext_dirs(x):
	try:
		return sorted(os.listdir(x.own("extensions")))
	except OSError:
		return []


def tree(path):
	"""Every path under path (relative), for "nothing else was written"."""
	out = set()
	for root, dirs, files in os.walk(path):
		for n in dirs + files:
			out.add(os.path.relpath(os.path.join(root, n), path))
	return out


def zip_with(path, entries):
	"""A zip at path: entries are (name, data) or (name, data, mode) with S_IFLNK for links."""
	with zipfile.ZipFile(path, "w") as z:
		for e in entries:
			info = zipfile.ZipInfo(e[0])
			if len(e) > 2:
				info.external_attr = e[2] << 16
				info.create_system = 3
			z.writestr(info, e[1])


def sign_as(env, zip_path, publisher, type_name, version="1.0"):
	"""zip_path.p7s: publisher's signature of zip_path as its extension type_name at version (the
	statement that ext-pack signs, by `cloudsim pkg-sign`; the certificate made if missing)."""
	r = subprocess.run([str(fixtures.CLOUDSIM), "pkg-sign", zip_path, "--kind", "extension", "--publisher",
			    publisher, "--type", type_name, "--version", version, "--pki", env.sim.pki],
			   capture_output=True, text=True, timeout=30)
	check(r.returncode == 0, "cloudsim pkg-sign: %s" % r.stderr)


def sign_old_format(env, zip_path, publisher):
	"""zip_path.p7s as packages were signed before the signature named them: a detached CMS
	signature of the zip's bytes by publisher's certificate (openssl cms -sign)."""
	pub_dir = os.path.join(env.sim.pki, "publishers")
	crt, key = os.path.join(pub_dir, publisher + ".crt"), os.path.join(pub_dir, publisher + ".key")
	if not os.path.exists(crt):
		r = subprocess.run([str(fixtures.CLOUDSIM), "publisher-cert", env.sim.pki, publisher],
				   capture_output=True, text=True, timeout=30)
		check(r.returncode == 0, "publisher-cert %s: %s" % (publisher, r.stderr))
	r = subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", zip_path, "-signer", crt, "-inkey", key,
			    "-outform", "DER", "-out", zip_path + ".p7s", "-md", "sha256", "-nosmimecap"],
			   capture_output=True, text=True, timeout=30)
	check(r.returncode == 0, "openssl cms -sign: %s" % r.stderr)


def recatalog(env, fname, type_name=None, version=None, publisher=PUBLISHER):
	"""The cloud's catalog entry for publisher's type_name at version naming the published package
	fname (its zip and signature, unchanged): Publisher.Type-Version.json beside it; the entry."""
	with open(package_path(env, fname)[:-len(".zip")] + ".json") as f:
		entry = json.load(f)
	entry.update({"publisher": publisher, "type": type_name or entry["type"],
		      "version": version or entry["version"]})
	path = package_path(env, "%s.%s-%s.json" % (publisher, entry["type"], entry["version"]))
	with open(path, "w") as f:
		json.dump(entry, f)
	os.chmod(path, 0o644)
	return entry


def catalog(env, publisher, type_name, version, zip_path):
	"""The catalog entry of a hand-made package, as ext-pack writes it."""
	fname = os.path.basename(zip_path)
	entry = {"kind": "extension", "publisher": publisher, "type": type_name, "version": version,
		 "file": fname, "signature": fname + ".p7s", "sha256": sha256_file(zip_path),
		 "size": os.path.getsize(zip_path)}
	with open(zip_path[:-len(".zip")] + ".json", "w") as f:
		json.dump(entry, f)
	for n in (zip_path, zip_path + ".p7s", zip_path[:-len(".zip")] + ".json"):
		if os.path.exists(n):
			os.chmod(n, 0o644)
	return entry


def azcm(env, *args, timeout=150):
	x = env.extmgr
	return subprocess.run([str(AZCMAGENT), *args, "--config-dir", x.conf_dir, "--state-dir", env.state_dir,
			       "--run-dir", x.run_dir], capture_output=True, text=True, timeout=timeout)


def sleepers(tag):
	"""Pids of processes whose command line (its words joined by spaces) holds tag."""
	out = []
	for pid in os.listdir("/proc"):
		if not pid.isdigit():
			continue
		try:
			with open("/proc/%s/cmdline" % pid, "rb") as f:
				if tag.encode() in f.read().replace(b"\0", b" "):
					out.append(int(pid))
		except OSError:
			pass
	return out
