"""himds: the identity agentlet's local API, its token challenge, its heartbeat and its renewal.

Expectations:
- `himds -n` names file and line of a broken himds.conf or agent.conf and exits 1 with one line.
  Started as root it runs as user himds (its groups, no capability at all) and says in one line
  when there is no such user; as anyone else it stays that user.
- Without an identity (no machine.json) it runs: /agentstatus says Disconnected with resourceId
  null, the metadata and token endpoints answer 503, himds.json says Disconnected, and nothing
  goes to arcproxy.  A SIGHUP after the identity appears serves it; a broken himds.conf on SIGHUP
  is refused and the old one kept.
- /metadata/instance gives Azure's compute document from machine.json (tags as "k:v;k2:v2",
  osType Linux, network {}), /metadata/endpoints the cloud URL, to curl and urllib alike.
- Every endpoint needs `Metadata: true`, and all but /agentstatus api-version (else 400 with a
  JSON error); any request carrying X-Forwarded-For (or Via) gets 400; unknown paths 404; POST 405.
  A Host other than localhost, 127.0.0.1 or [::1] (with or without a port) gets 400: a browser
  page on a DNS name rebound to 127.0.0.1 reads nothing.
  Through arcproxy, metadata is refused by its SSRF guard (403); an arcproxy misconfigured to let
  it through adds Via, and himds refuses that (400).
- The token challenge: the first call gets 401 with `WWW-Authenticate: Basic realm=<dir>/<hex>.key`;
  that file holds 64 hex digits, mode 0640, in a 0750 directory, the himds group's (when root:
  another user cannot read it).  The retry with `Authorization: Basic <key>` uses the key up (the
  file goes); a reused, wrong or expired key gets 401 with a new challenge.  Stale key files are
  removed at start, expired ones within seconds, all of them at SIGTERM.
- The heartbeat goes through arcproxy (its access log shows the CONNECT to the cloud); a refusal
  shows in himds.json as Disconnected with the reason.
- With cloudsim's control plane (API.md): a machine registered through arcproxy and the gateway
  heartbeats until the operator API shows it Connected; the token from curl and from urllib is a
  JWT that verifies with the CA's key, for the resource asked; a short certificate lifetime is
  renewed at half of it (new key 0640 in its group, new certificate, arcproxy asked to reload with
  POST /identity/reload on its admin API, which it grants to the himds user through group arc) and
  the heartbeats go on with the new certificate.
- SIGTERM: exit 0, the pid file and key files gone, no sanitizer report.
"""

import base64
import calendar
import grp
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness
import test_cloudsim as tcs
from harness import Proxy, Skip, check, curl, free_port, poll, test, wait_port

HIMDS = harness.BIN_DIR / "himds"
ROOT = os.geteuid() == 0
MACHINE = "himds-it"
ONBOARDING_TOKEN = "himds-onboarding-token"
CERT_LIFETIME = 24	# seconds: renewed at 12
CLOUD_URL = "https://management.cloudsim.test"
RESOURCE = "https://management.azure.com/"


# --- users and groups --------------------------------------------------------

def ensure_users():
	"""As root: group arc (the identity files' group) and user himds in it, as an install makes them."""
	if not ROOT:
		return
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
ENDPOINTS = "/metadata/endpoints?api-version=2019-11-01"
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


# --- the module's environment -------------------------------------------------

class Env:
	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail on failure
		self.sim = None		# the PKI (and, for the cloud tests, the control plane)
		self.arcproxy = None	# plain arcproxy: refuses the heartbeat's CONNECT (SSRF guard)
		self.local = None	# himds with an identity and no cloud behind it
		self.empty = None	# himds without an identity
		self.himdses = []
		self.proxies = []
		self.sims = []
		self.cloud = None	# the cloud part, set up by the first test that needs it
		self.cloud_error = None
		self.trap = None	# the empty himds's "proxy": a socket nobody should reach


def setup():
	env = Env()
	try:
		ensure_users()
		sim = env.sim = tcs.Sim()
		env.sims.append(sim)
		for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1")):
			r = sim.run(*args)
			check(r.returncode == 0, "cloudsim %s: %s" % (" ".join(args), r.stderr.strip()))
		env.arcproxy = ArcProxy(hosts=[{"name": "management.cloudsim.test", "address": "127.0.0.1"}],
					name="himds-arcproxy")
		env.proxies.append(env.arcproxy)
		env.arcproxy.start()
		env.local = new_himds(env, "himds-local", proxy="http://127.0.0.1:%d" % env.arcproxy.port,
				      heartbeat_interval_seconds=1)
		put_local_identity(sim, env.local.state_dir)
		env.local.start()
		env.trap = socket.socket()
		env.trap.bind(("127.0.0.1", 0))
		env.trap.listen(8)
		env.trap.setblocking(False)
		env.empty = new_himds(env, "himds-empty", proxy="http://127.0.0.1:%d" % env.trap.getsockname()[1])
		env.empty.start()
		env.proxy = env.local
	except BaseException:
		teardown(env)
		raise
	return env


def new_himds(env, name, **settings):
	h = Himds(name, **settings)
	env.himdses.append(h)
	return h


def teardown(env):
	problems = []
	if env.trap:
		env.trap.close()
	for h in env.himdses:
		problems += h.problems()
	for p in env.proxies:
		if p.proc is None:
			continue
		crashed = p.proc.poll()
		if crashed is not None:
			problems.append("arcproxy %s had exited with status %s" % (p.base, crashed))
		rc = p.stop()
		if crashed is None and rc not in (0, None):
			problems.append("arcproxy %s exited %s on SIGTERM\n%s" % (p.base, rc, p.stderr_tail()))
		rep = p.sanitizer_report()
		if rep:
			problems.append("arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
	for sim in env.sims:
		if sim.proc is None:
			continue
		crashed = sim.proc.poll()
		if crashed is not None:
			problems.append("cloudsim had exited with status %s" % crashed)
		rc = sim.stop()
		if crashed is None and rc != 0:
			problems.append("cloudsim exited %s on SIGTERM\n%s" % (rc, sim.stderr_tail()))
		rep = sim.sanitizer_report()
		if rep:
			problems.append("cloudsim sanitizer: %s\n%s" % (rep, sim.stderr_tail(40)))
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


# --- configuration and privileges ------------------------------------------------

@test
def config_errors_name_file_and_line(env):
	h = new_himds(env, "himds-conf")
	h.write_config('listen = [ "127.0.0.1:1" ];\n\nproxy = "https://127.0.0.1:40343";\n')
	r = subprocess.run(h.command("-n"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 1, "himds -n on a bad proxy: exit %d" % r.returncode)
	lines = r.stderr.strip().splitlines()
	check(len(lines) == 1 and "himds.conf:3:" in lines[0] and "proxy" in lines[0],
	      "expected one line naming himds.conf:3 and proxy, got %r" % r.stderr)
	h.write_config('listen = [ "127.0.0.1:1" ];\nheartbeat_every = 5;\n')
	r = subprocess.run(h.command("-d"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 1 and re.search(r"himds\.conf:2: unknown key 'heartbeat_every'", r.stderr),
	      "himds -d on an unknown key: exit %d, %r" % (r.returncode, r.stderr))
	h.write_config()
	with open(os.path.join(h.conf_dir, "agent.conf"), "w") as f:
		f.write('connection = { type = "sideways"; };\n')
	r = subprocess.run(h.command("-n"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 1 and "agent.conf:1:" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
	      "himds -n on a bad agent.conf: exit %d, %r" % (r.returncode, r.stderr))
	os.unlink(os.path.join(h.conf_dir, "agent.conf"))
	r = subprocess.run(h.command("-n"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 0 and "configuration OK" in r.stdout, "himds -n on a good file: %r" % (r,))


@test
def runs_as_user_himds(env):
	h = env.empty
	with open("/proc/%d/status" % h.proc.pid) as f:
		st = f.read()
	uid = int(re.search(r"^Uid:\s+(\d+)", st, re.M).group(1))
	if not ROOT:
		check(uid == os.getuid(), "started as uid %d, himds runs as %d" % (os.getuid(), uid))
		return
	pw = pwd.getpwnam("himds")
	check(uid == pw.pw_uid, "himds runs as uid %d, not himds (%d)" % (uid, pw.pw_uid))
	groups = [int(g) for g in re.search(r"^Groups:\s*(.*)$", st, re.M).group(1).split()]
	check(grp.getgrnam("arc").gr_gid in groups, "himds is not in group arc: %s" % groups)
	for field in ("CapEff", "CapPrm"):
		cap = int(re.search(r"^%s:\s+([0-9a-f]+)" % field, st, re.M).group(1), 16)
		check(cap == 0, "himds's %s is %#x, expected no capability (not even CAP_KILL)" % (field, cap))


@test
def root_without_the_himds_user(env):
	if not ROOT:
		raise Skip("needs root")
	passwd = os.path.join(harness.tmp_root(), "passwd-without-himds")
	with open("/etc/passwd") as f, open(passwd, "w") as out:
		out.writelines(l for l in f if not l.startswith("himds:"))
	h = new_himds(env, "himds-nouser")
	cmd = " ".join("'%s'" % a for a in h.command("-d"))
	r = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind %s /etc/passwd && exec %s" % (passwd, cmd)],
			   capture_output=True, text=True, timeout=10)
	if "mount" in r.stderr and "himds" not in r.stderr:
		raise Skip("cannot bind-mount /etc/passwd here: %s" % r.stderr.strip())
	lines = r.stderr.strip().splitlines()
	check(r.returncode == 1 and len(lines) == 1 and "no user 'himds'" in lines[0] and "useradd" in lines[0],
	      "expected exit 1 and one line about the missing user, got %d %r" % (r.returncode, r.stderr))


# --- not connected -------------------------------------------------------------

@test
def not_connected_is_a_state(env):
	h = env.empty
	status, _, doc = api(h, "/agentstatus", MD)
	check(status == 200 and doc["status"] == "Disconnected" and doc["resourceId"] is None and
	      doc["agentVersion"], "/agentstatus without identity: %d %r" % (status, doc))
	for path in (INSTANCE, ENDPOINTS, TOKEN):
		status, _, doc = api(h, path, MD)
		check(status == 503 and doc.get("error") == "not_connected",
		      "%s without identity: %d %r" % (path, status, doc))
	check(poll(lambda: h.status_file().get("status") == "Disconnected"),
	      "himds.json: %r" % h.status_file())
	check(not os.listdir(h.token_dir()), "a key file was written without an identity")
	try:
		env.trap.accept()[0].close()
		raise AssertionError("himds without an identity connected to its proxy")
	except BlockingIOError:
		pass
	up(h)


@test
def sighup_reads_a_new_identity_and_refuses_a_bad_config(env):
	h = new_himds(env, "himds-hup", heartbeat_interval_seconds=300)
	h.start()
	status, _, _ = api(h, INSTANCE, MD)
	check(status == 503, "before the identity: %d" % status)
	put_local_identity(env.sim, h.state_dir)
	h.signal(signal.SIGHUP)
	check(poll(lambda: api(h, INSTANCE, MD)[0] == 200), "after SIGHUP the identity is not served")
	h.write_config("listen = [ 1 ];\n")
	h.signal(signal.SIGHUP)
	check(h.log_has(r"reload refused.*himds\.conf:1:"), "a bad config on SIGHUP was not refused\n%s"
	      % h.stderr_tail())
	up(h)
	check(api(h, INSTANCE, MD)[0] == 200, "himds does not serve after a refused reload")
	for name in ("machine.json", "himds/machine.crt", "himds/machine.key"):
		os.unlink(os.path.join(h.state_dir, name))
	h.write_config()
	h.signal(signal.SIGHUP)
	check(poll(lambda: api(h, INSTANCE, MD)[0] == 503), "after the identity went, it is still served")


def expired_cert(sim, key_path, cn, d):
	"""A certificate for key_path from sim's CA that expired an hour ago (openssl ca sets the dates)."""
	for name, text in (("index.txt", ""), ("serial", "1000\n"), ("ca.cnf",
			   "[ca]\ndefault_ca = c\n[c]\ndatabase = %s/index.txt\nserial = %s/serial\n"
			   "new_certs_dir = %s\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n"
			   % (d, d, d))):
		with open(os.path.join(d, name), "w") as f:
			f.write(text)
	csr = os.path.join(d, "m.csr")
	subprocess.run(["openssl", "req", "-new", "-key", key_path, "-subj", "/CN=" + cn, "-out", csr],
		       check=True, capture_output=True)
	stamp = lambda t: time.strftime("%y%m%d%H%M%SZ", time.gmtime(t))
	out = os.path.join(d, "m.crt")
	r = subprocess.run(["openssl", "ca", "-batch", "-notext", "-config", os.path.join(d, "ca.cnf"),
			    "-cert", sim.file("ca.crt"), "-keyfile", sim.file("ca.key"), "-in", csr, "-out", out,
			    "-startdate", stamp(time.time() - 7200), "-enddate", stamp(time.time() - 3600)],
			   capture_output=True, text=True)
	check(r.returncode == 0, "openssl ca: %s" % r.stderr)
	return read_key(out)


@test
def expired_certificate_is_a_state(env):
	h = new_himds(env, "himds-expired")
	put_local_identity(env.sim, h.state_dir)
	put_file(os.path.join(h.state_dir, "himds", "machine.crt"),
		 expired_cert(env.sim, os.path.join(h.state_dir, "himds", "machine.key"), "m1", h.base), 0o644)
	h.start()
	st = poll(lambda: h.status_file().get("status") == "Expired" and h.status_file())
	check(st and "expired" in st["lastError"], "himds.json with an expired certificate: %r" % h.status_file())
	status, _, doc = api(h, "/agentstatus", MD)
	check(doc["status"] == "Expired", "/agentstatus: %r" % doc)
	check(h.log_has(r"renewal: the machine certificate expired"), "no word about the renewal\n%s"
	      % h.stderr_tail())
	check(not h.log_has(r"heartbeat: HTTP", timeout=0.5), "a heartbeat went out with an expired certificate")


# --- the metadata API ---------------------------------------------------------------

@test
def metadata_instance_document(env):
	h = env.local
	status, hdrs, doc = api(h, INSTANCE, MD)
	check(status == 200 and hdrs.get("content-type", "").startswith("application/json"),
	      "GET /metadata/instance: %d %r" % (status, hdrs))
	c = doc["compute"]
	for k in ("resourceId", "subscriptionId", "resourceGroupName", "location", "name", "vmId"):
		check(c.get(k) == LOCAL_RESOURCE[k], "compute.%s is %r, expected %r" % (k, c.get(k), LOCAL_RESOURCE[k]))
	check(c["osType"] == "Linux", "osType %r" % c["osType"])
	check(c["tags"] == "env:prod;team:ops", "tags %r, expected 'env:prod;team:ops'" % c["tags"])
	check(doc["network"] == {}, "network %r" % doc["network"])
	# curl and urllib see the same.
	status, _, body = curl_himds(h, INSTANCE, "-H", "Metadata: true")
	check(status == 200 and json.loads(body) == doc, "curl: %d %s" % (status, body[:200]))
	opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
	with opener.open(urllib.request.Request(h.url(INSTANCE), headers=MD), timeout=10) as r:
		check(json.loads(r.read()) == doc, "urllib sees another document")
	status, _, doc = api(h, ENDPOINTS, MD)
	check(status == 200 and doc.get("resourceManager") == CLOUD_URL, "endpoints: %d %r" % (status, doc))


@test
def metadata_header_and_api_version_required(env):
	h = env.local
	for path in (INSTANCE, ENDPOINTS, TOKEN):
		for headers in ({}, {"Metadata": "false"}):
			status, _, doc = api(h, path, headers)
			check(status == 400 and doc.get("error") == "invalid_request" and
			      "metadata" in doc.get("error_description", "").lower(),
			      "%s with %r: %d %r" % (path, headers, status, doc))
	status, _, doc = api(h, "/metadata/instance", MD)
	check(status == 400 and "api-version" in doc.get("error_description", ""),
	      "no api-version: %d %r" % (status, doc))
	status, _, doc = api(h, "/agentstatus")
	check(status == 400 and "metadata" in doc.get("error_description", "").lower(),
	      "/agentstatus without the Metadata header: %d %r" % (status, doc))
	status, _, doc = api(h, "/agentstatus", MD)
	check(status == 200 and doc.get("resourceId") == LOCAL_RESOURCE["resourceId"],
	      "/agentstatus with Metadata: true: %d %r" % (status, doc))
	status, _, doc = api(h, "/metadata/nothing?api-version=1", MD)
	check(status == 404 and doc.get("error"), "unknown path: %d %r" % (status, doc))
	status, hdrs, _ = api(h, INSTANCE, MD, method="POST")
	check(status == 405 and hdrs.get("allow") == "GET", "POST: %d %r" % (status, hdrs))


@test
def only_local_host_names(env):
	h = env.local
	for host in ("localhost", "LOCALHOST:%d" % h.port, "127.0.0.1", "127.0.0.1:%d" % h.port, "[::1]",
		     "[::1]:%d" % h.port):
		status, _, doc = api(h, "/agentstatus", dict(MD, Host=host))
		check(status == 200, "Host %s: %d %r" % (host, status, doc))
	keys = lambda: sorted(os.listdir(h.token_dir())) if os.path.isdir(h.token_dir()) else []
	before = keys()
	for host in ("evil.example:%d" % h.port, "evil.example", "127.0.0.2", "localhost.evil.example",
		     "localhost:", "localhost:80x", "[::1]x", "0x7f000001", ""):
		for path in ("/agentstatus", INSTANCE, TOKEN):
			status, _, doc = api(h, path, dict(MD, Host=host))
			check(status == 400 and "Host" in doc.get("error_description", ""),
			      "%s with Host %r: %d %r" % (path, host, status, doc))
	check(keys() == before, "a request for another host got a key file")
	# What a browser does after DNS rebinding: curl with the rebound name resolved to 127.0.0.1.
	p = curl("--noproxy", "*", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Metadata: true",
		 "--resolve", "rebound.example:%d:127.0.0.1" % h.port,
		 "http://rebound.example:%d/agentstatus" % h.port)
	check(p.stdout.decode() == "400", "a rebound name: HTTP %s" % p.stdout.decode())


@test
def forwarded_requests_refused(env):
	h = env.local
	before = os.listdir(h.token_dir())
	for path in (INSTANCE, TOKEN, "/agentstatus"):
		status, _, doc = api(h, path, dict(MD, **{"X-Forwarded-For": "10.0.0.7"}))
		check(status == 400 and "X-Forwarded-For" in doc.get("error_description", ""),
		      "%s with X-Forwarded-For: %d %r" % (path, status, doc))
	check(os.listdir(h.token_dir()) == before, "a forwarded token request got a key file")
	status, _, _ = curl_himds(h, INSTANCE, "-H", "Metadata: true", "-H", "X-Forwarded-For: 127.0.0.1")
	check(status == 400, "curl with X-Forwarded-For: %d" % status)


@test
def metadata_through_arcproxy_refused(env):
	h = env.local
	target = "http://127.0.0.1:%d%s" % (h.port, INSTANCE)
	p = curl("-i", "-x", "http://127.0.0.1:%d" % env.arcproxy.port, "-H", "Metadata: true", target)
	status, hdrs, _ = parse_curl_i(p.stdout.decode("utf-8", "replace"))
	check(status == 403 and "destination_ip_prohibited" in hdrs.get("proxy-status", ""),
	      "metadata through arcproxy: %d %r" % (status, hdrs))
	# An arcproxy told to let himds through still cannot: it adds Via, and himds refuses.
	loose = ArcProxy(routes=[harness.direct("127.0.0.1:%d" % h.port)], name="himds-loose")
	env.proxies.append(loose)
	loose.start()
	p = curl("-i", "-x", "http://127.0.0.1:%d" % loose.port, "-H", "Metadata: true", target)
	status, _, body = parse_curl_i(p.stdout.decode("utf-8", "replace"))
	check(status == 400 and "Via" in body, "metadata through a loose arcproxy: %d %s" % (status, body))
	check(h.log_has(r"refused a request with Via"), "himds did not log the refusal")


# --- the token challenge -------------------------------------------------------------

@test
def challenge_key_file(env):
	h = env.local
	status, hdrs, doc = api(h, TOKEN, MD)
	check(status == 401, "first token request: %d %r" % (status, doc))
	path = realm_path(hdrs.get("www-authenticate"))
	check(os.path.dirname(path) == h.token_dir() and re.fullmatch(r"[0-9a-f]{32}\.key", os.path.basename(path)),
	      "the realm names %s, not <run>/tokens/<hex>.key" % path)
	st = os.stat(path)
	check(st.st_mode & 0o777 == 0o640, "key file mode %o, expected 640" % (st.st_mode & 0o777))
	dst = os.stat(h.token_dir())
	check(dst.st_mode & 0o777 == 0o750, "token dir mode %o, expected 750" % (dst.st_mode & 0o777))
	check(re.fullmatch(r"[0-9a-f]{64}", read_key(path)), "key file content %r" % read_key(path))
	if ROOT:
		pw = pwd.getpwnam("himds")
		check(st.st_uid == pw.pw_uid and st.st_gid == pw.pw_gid and dst.st_gid == pw.pw_gid,
		      "key file %d:%d, dir group %d; expected himds's %d:%d" % (st.st_uid, st.st_gid, dst.st_gid,
										pw.pw_uid, pw.pw_gid))
		nobody = pwd.getpwnam("nobody")
		r = subprocess.run(["cat", path], capture_output=True, user=nobody.pw_uid, group=nobody.pw_gid,
				   extra_groups=[])
		check(r.returncode != 0 and not r.stdout, "user nobody could read the key file")
		r = subprocess.run(["cat", path], capture_output=True, user=nobody.pw_uid, group=nobody.pw_gid,
				   extra_groups=[pw.pw_gid])
		check(r.returncode == 0 and r.stdout.decode() == read_key(path),
		      "a member of group himds could not read the key file: %r" % r.stderr)


@test
def challenge_single_use_wrong_and_reused_keys(env):
	h = env.local
	# No cloud behind this identity: a good key gets past the challenge to a 502.
	status, _, body, key_path, key = curl_token(h)
	check(status == 502 and "error" in json.loads(body), "a good key: %d %s" % (status, body))
	check(not os.path.exists(key_path), "the used key file is still there")
	status, hdrs, _ = curl_himds(h, TOKEN, "-H", "Metadata: true", "-H", "Authorization: Basic %s" % key)
	check(status == 401, "a reused key: %d" % status)
	again = realm_path(hdrs.get("www-authenticate"))
	check(again != key_path and os.path.exists(again), "a reused key gets no new challenge")
	for auth in ("Basic " + "0" * 64, "Basic ", "Bearer " + read_key(again), read_key(again)):
		status, hdrs, doc = api(h, TOKEN, dict(MD, Authorization=auth))
		check(status == 401 and realm_path(hdrs.get("www-authenticate")),
		      "Authorization %r: %d %r" % (auth[:20], status, doc))
	check(os.path.exists(again), "a wrong key used up another key")
	status, doc, key_path = urllib_token(h)
	check(status == 502 and not os.path.exists(key_path), "urllib with a good key: %d %r" % (status, doc))


@test
def challenge_keys_expire_and_are_cleaned(env):
	h = new_himds(env, "himds-expiry", token_key_lifetime_seconds=1)
	os.makedirs(h.token_dir(), exist_ok=True)
	stale = os.path.join(h.token_dir(), "0123456789abcdef0123456789abcdef.key")
	with open(stale, "w") as f:
		f.write("stale")
	put_local_identity(env.sim, h.state_dir)
	h.start()
	check(not os.path.exists(stale), "a key file of an earlier run survived the start")
	status, hdrs, _ = api(h, TOKEN, MD)
	path = realm_path(hdrs.get("www-authenticate"))
	key = read_key(path)
	check(poll(lambda: not os.path.exists(path), timeout=4), "an expired key file was not removed")
	status, _, _ = api(h, TOKEN, dict(MD, Authorization="Basic " + key))
	check(status == 401, "an expired key: %d" % status)
	api(h, TOKEN, MD)
	check(os.listdir(h.token_dir()), "no key file")
	check(h.stop() == 0, "himds exited %s on SIGTERM" % h.proc.returncode)
	check(not os.listdir(h.token_dir()), "key files left at exit: %s" % os.listdir(h.token_dir()))
	check(ROOT or not os.path.exists(os.path.join(h.run_dir, "himds.pid")), "pid file left at exit")


# --- heartbeat without a cloud ------------------------------------------------------

@test
def heartbeat_goes_through_arcproxy(env):
	h = env.local
	lines = poll(lambda: [l for l in env.arcproxy.access_log_lines() if "management.cloudsim.test:443" in l],
		     timeout=5)
	check(lines and " CONNECT " in lines[0] and " 403 " in lines[0],
	      "no refused CONNECT to the cloud in arcproxy's access log:\n%s"
	      % "\n".join(env.arcproxy.access_log_lines()[-5:]))
	st = poll(lambda: h.status_file().get("lastError") and h.status_file(), timeout=5)
	check(st and st["status"] == "Disconnected" and "403" in st["lastError"] and st["lastHeartbeat"] is None,
	      "himds.json: %r" % st)
	status, _, doc = api(h, "/agentstatus", MD)
	check(doc["status"] == "Disconnected" and doc["lastHeartbeat"] is None, "/agentstatus: %r" % doc)
	# The retry follows the interval (1 s here): more than one CONNECT by now.
	check(poll(lambda: len([l for l in env.arcproxy.access_log_lines()
				if "management.cloudsim.test:443" in l]) >= 2, timeout=5),
	      "heartbeats are not retried")


# --- with cloudsim's control plane ----------------------------------------------------

class ControlSim(tcs.Sim):
	"""cloudsim with the control plane of cloudsim/API.md."""

	def __init__(self):
		super().__init__()
		self.control_port = free_port()
		self.operator_port = free_port()

	def settings(self):
		s = super().settings()
		s["hosts"] = [h for h in s["hosts"] if h["name"] != "management.cloudsim.test"]
		s["hosts"].append({"name": "management.cloudsim.test", "target": "127.0.0.1:%d" % self.control_port})
		s["control"] = {
			"listen": "127.0.0.1:%d" % self.control_port,
			"operator_listen": "127.0.0.1:%d" % self.operator_port,
			"onboarding_tokens": [ONBOARDING_TOKEN],
			"subscription_id": "00000000-1111-2222-3333-444444444444",
			"resource_group": "rg-himds",
			"tenant_id": "55555555-6666-7777-8888-999999999999",
			"location": "westeurope",
			"heartbeat_interval_seconds": 2,
			"cert_lifetime_seconds": CERT_LIFETIME,
			"token_lifetime_seconds": 3600,
		}
		return s

	def start(self):
		super().start()
		for port in (self.control_port, self.operator_port):
			if not wait_port(port, 5, self.proc):
				raise AssertionError("cloudsim's control plane does not listen on %d\n%s"
						     % (port, self.stderr_tail()))
		return self

	def operator(self, path):
		c = http.client.HTTPConnection("127.0.0.1", self.operator_port, timeout=10)
		try:
			c.request("GET", path)
			r = c.getresponse()
			body = r.read()
		finally:
			c.close()
		return r.status, (json.loads(body) if body else None)


class Cloud:
	def __init__(self):
		self.sim = None
		self.proxy = None	# arcproxy in gateway mode
		self.himds = None
		self.resource = None
		self.registered_at = None
		self.register_tunnels = 0	# gateway tunnels arcproxy had made after the registration
		self.reloads = 0		# arcproxy's reloads after the registration
		self.first_crt = None		# the registration's machine.crt and .key
		self.first_key = None


def cloud(env):
	"""The cloud part, started once: cloudsim with its control plane, arcproxy in gateway mode,
	the machine registered through them, and himds on that identity."""
	if env.cloud_error:
		raise Skip(env.cloud_error)
	if env.cloud:
		return env.cloud
	sim = ControlSim()
	sim.pki = env.sim.pki
	sim.write_config()
	r = sim.run("-n", "--config-dir", sim.conf_dir)
	if r.returncode != 0:
		if "control" in r.stderr:
			env.cloud_error = "waiting on cloudsim's control plane (cloudsim -n: %s)" % r.stderr.strip()
			shutil.rmtree(sim.base, ignore_errors=True)
			raise Skip(env.cloud_error)
		raise AssertionError("cloudsim -n: %s" % r.stderr.strip())
	env.sims.append(sim)
	try:
		sim.start()
	except AssertionError:
		if sim.alive():
			env.cloud_error = ("waiting on cloudsim's control plane: cloudsim takes the control "
					   "settings but does not serve them yet")
			raise Skip(env.cloud_error)
		raise
	c = Cloud()
	c.sim = sim
	# arcproxy in gateway mode, no identity yet: only the registration endpoint.
	p = ArcProxy(hosts=[{"name": "gw.cloudsim.test", "address": "127.0.0.1"}], name="himds-gw")
	p.settings.pop("default_route")
	p.write_config()
	shutil.copy(sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
	os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
	p.write_agent_conf('connection = { type = "gateway"; };\n'
			   'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt"; };\n' % sim.gw_port)
	share_state_dir(p.state_dir)
	env.proxies.append(p)
	p.start()
	c.proxy = p
	register(c, p.state_dir)
	p.reload()	# it presents the new machine certificate from now on
	reloads = lambda: len(re.findall("configuration reloaded", p.stderr_text()))
	check(poll(lambda: reloads() >= 1), "arcproxy did not reload after the registration")
	c.reloads = reloads()
	h = new_himds(env, "himds-cloud", state_dir=p.state_dir, proxy="http://127.0.0.1:%d" % p.port,
		      arcproxy_admin="127.0.0.1:%d" % p.admin_port)
	h.start()
	c.himds = h
	env.cloud = c
	return c


def register(c, state_dir):
	"""What azcmagent connect does: key and CSR made here, POST register through arcproxy, the state files."""
	own = identity_dir(state_dir)
	key = os.path.join(own, "machine.key")
	subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
		       check=True, capture_output=True)
	csr = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + MACHINE],
			     check=True, capture_output=True, text=True).stdout
	put_file(key, read_key(key), 0o640)
	body = json.dumps({"onboardingToken": ONBOARDING_TOKEN, "csr": csr, "name": MACHINE,
			   "location": "westeurope", "tags": {"env": "test", "owner": "himds"},
			   "agentVersion": "test"})
	p = curl("-x", "http://127.0.0.1:%d" % c.proxy.port, "--cacert", c.sim.file("ca.crt"),
		 "-H", "Content-Type: application/json", "--data-binary", body, "-w", "\n%{http_code}",
		 CLOUD_URL + "/machines/register", timeout=30)
	out = p.stdout.decode("utf-8", "replace")
	text, _, code = out.rpartition("\n")
	check(p.returncode == 0 and code == "201", "register through arcproxy: exit %d, HTTP %s: %s %s"
	      % (p.returncode, code, text[:300], p.stderr.decode(errors="replace")))
	answer = json.loads(text)
	c.register_tunnels = harness.metric_sum(c.proxy.metrics(), "arcproxy_tunnels_total", route="gateway")
	check(c.register_tunnels >= 1, "the registration did not go through the gateway route")
	c.resource = answer["resource"]
	c.registered_at = time.time()
	put_file(os.path.join(own, "machine.crt"), answer["certificate"], 0o644)
	c.first_crt, c.first_key = answer["certificate"], read_key(key)
	put_file(os.path.join(state_dir, "machine.json"),
		 machine_json(answer["resource"], put_ca(c.sim, state_dir), answer.get("heartbeatIntervalSeconds")),
		 0o644)


def b64url(s):
	return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def der_signature(raw):
	"""ES256's r||s as the DER that openssl dgst -verify reads."""
	def der_int(b):
		b = b.lstrip(b"\0") or b"\0"
		if b[0] & 0x80:
			b = b"\0" + b
		return b"\x02" + bytes([len(b)]) + b
	body = der_int(raw[:32]) + der_int(raw[32:])
	return b"\x30" + bytes([len(body)]) + body


def verify_jwt(c, token):
	"""Checks the ES256 signature with the CA's public key; returns the claims."""
	head, payload, sig = token.split(".")
	check(json.loads(b64url(head)).get("alg") == "ES256", "JWT header %r" % b64url(head))
	d = tempfile.mkdtemp(dir=harness.tmp_root())
	pub, data, sigf = (os.path.join(d, n) for n in ("pub.pem", "data", "sig.der"))
	subprocess.run(["openssl", "x509", "-in", c.sim.file("ca.crt"), "-pubkey", "-noout", "-out", pub],
		       check=True, capture_output=True)
	with open(data, "wb") as f:
		f.write((head + "." + payload).encode())
	with open(sigf, "wb") as f:
		f.write(der_signature(b64url(sig)))
	r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sigf, data],
			   capture_output=True, text=True)
	shutil.rmtree(d, ignore_errors=True)
	check(r.returncode == 0 and "Verified OK" in r.stdout, "the token's signature does not verify: %s %s"
	      % (r.stdout, r.stderr))
	return json.loads(b64url(payload))


@test(timeout=45)
def heartbeat_visible_in_the_cloud(env):
	c = cloud(env)
	h = c.himds

	def seen():
		status, m = c.sim.operator("/operator/machines/" + MACHINE)
		return status == 200 and m.get("lastHeartbeat") and m.get("status") == "Connected" and m
	m = poll(seen, timeout=15, interval=0.25)
	check(m, "the operator API does not show a heartbeat: %r\n%s" % (c.sim.operator("/operator/machines/" +
											 MACHINE), h.stderr_tail()))
	check(m["resourceId"] == c.resource["resourceId"], "operator: %r" % m)
	st = poll(lambda: h.status_file().get("status") == "Connected" and h.status_file(), timeout=5)
	check(st and st["lastHeartbeat"] and st["lastError"] is None, "himds.json: %r" % h.status_file())
	status, _, doc = api(h, "/agentstatus", MD)
	check(doc["status"] == "Connected" and doc["resourceId"] == c.resource["resourceId"] and doc["lastHeartbeat"],
	      "/agentstatus: %r" % doc)
	# Only the registration's curl and himds use this arcproxy: more gateway tunnels than the
	# registration's are himds's (its keep-alive tunnel may not have ended, nor been logged).
	tunnels = lambda: harness.metric_sum(c.proxy.metrics(), "arcproxy_tunnels_total", route="gateway")
	check(poll(lambda: tunnels() > c.register_tunnels, timeout=5),
	      "the heartbeat did not go through arcproxy's gateway route (%d gateway tunnels, %d at "
	      "registration)" % (tunnels(), c.register_tunnels))
	status, _, doc = api(h, INSTANCE, MD)
	check(status == 200 and doc["compute"]["vmId"] == c.resource["vmId"] and
	      doc["compute"]["tags"] == "env:test;owner:himds", "instance after register: %r" % doc)


@test(timeout=45)
def token_with_curl(env):
	c = cloud(env)
	status, _, body, key_path, _ = curl_token(c.himds)
	check(status == 200, "token with curl: %d %s\n%s" % (status, body, c.himds.stderr_tail()))
	doc = json.loads(body)
	for k in ("access_token", "expires_on", "expires_in", "resource", "token_type"):
		check(k in doc, "token answer lacks %s: %r" % (k, doc))
	check(doc["token_type"] == "Bearer" and doc["resource"] == RESOURCE, "token answer %r" % doc)
	check(not os.path.exists(key_path), "the key file outlived its use")
	claims = verify_jwt(c, doc["access_token"])
	check(claims.get("aud") == RESOURCE and claims.get("xms_mirid") == c.resource["resourceId"] and
	      claims.get("sub") == c.resource["vmId"], "claims %r" % claims)
	check(abs(int(doc["expires_on"]) - claims["exp"]) <= 1, "expires_on %s, exp %s"
	      % (doc["expires_on"], claims["exp"]))


@test(timeout=45)
def token_with_urllib(env):
	c = cloud(env)
	status, doc, _ = urllib_token(c.himds, "/metadata/identity/oauth2/token?api-version=2019-11-01"
				      "&resource=https%3A%2F%2Fvault.azure.net")
	check(status == 200 and doc.get("resource") == "https://vault.azure.net", "urllib token: %d %r" % (status, doc))
	check(verify_jwt(c, doc["access_token"]).get("aud") == "https://vault.azure.net", "aud")


@test(timeout=55)
def certificate_renewed_at_half_life(env):
	c = cloud(env)
	h = c.himds
	crt = os.path.join(h.state_dir, "himds", "machine.crt")
	key = os.path.join(h.state_dir, "himds", "machine.key")
	first_crt, first_key, reloads = c.first_crt, c.first_key, c.reloads
	left = c.registered_at + CERT_LIFETIME / 2 + 10 - time.time()
	check(poll(lambda: read_key(crt) != first_crt, timeout=max(left, 1), interval=0.25),
	      "no renewal %.0fs after registration\n%s" % (time.time() - c.registered_at, h.stderr_tail()))
	check(h.log_has(r"renewal: new machine certificate"), "himds did not log the renewal")
	check(read_key(key) != first_key, "the renewal kept the old key")
	st = os.stat(key)
	check(st.st_mode & 0o777 == 0o640, "renewed key mode %o" % (st.st_mode & 0o777))
	if ROOT:
		check(st.st_gid == grp.getgrnam("arc").gr_gid, "renewed key lost its group arc")
	r = subprocess.run("openssl x509 -in %s -noout -pubkey | cmp - <(openssl pkey -in %s -pubout)" % (crt, key),
			   shell=True, executable="/bin/bash", capture_output=True)
	check(r.returncode == 0, "the new certificate does not belong to the new key")
	check(poll(lambda: len(re.findall("configuration reloaded", c.proxy.stderr_text())) > reloads, timeout=5),
	      "arcproxy was not told to reload\n%s" % h.stderr_tail())
	# Through its admin API, as the himds user (group arc), not with a signal.
	check(c.proxy.log_has(r"identity reload asked by uid %d" % (pwd.getpwnam("himds").pw_uid if ROOT
								      else os.getuid())),
	      "arcproxy was not asked through POST /identity/reload\n%s" % c.proxy.stderr_tail())
	check(h.log_has(r"arcproxy reloaded the machine identity"), "himds did not hear arcproxy's 200")
	# The heartbeats go on with the new certificate, through the gateway.
	renewed = time.time()

	def fresh():
		status, m = c.sim.operator("/operator/machines/" + MACHINE)
		if status != 200 or not m.get("lastHeartbeat"):
			return None
		t = calendar.timegm(time.strptime(m["lastHeartbeat"][:19], "%Y-%m-%dT%H:%M:%S"))
		return t >= int(renewed) and m
	m = poll(fresh, timeout=10, interval=0.25)
	check(m and m["status"] == "Connected", "no heartbeat after the renewal: %r\n%s"
	      % (c.sim.operator("/operator/machines/" + MACHINE), h.stderr_tail()))
	check(h.status_file().get("status") == "Connected", "himds.json after renewal: %r" % h.status_file())


FLOOD = """
import http.client, json, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
counts, retry = {}, None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
for _ in range(n):
	try:
		c.request("GET", path, headers={"Metadata": "true"})
		r = c.getresponse()
		r.read()
	except (OSError, http.client.HTTPException):
		c.close()
		c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
		continue
	counts[r.status] = counts.get(r.status, 0) + 1
	if r.status == 429 and retry is None:
		retry = r.getheader("Retry-After")
	if r.getheader("Connection", "").lower() == "close":
		c.close()
		c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
print(json.dumps({"counts": counts, "retry_after": retry}))
"""


@test(timeout=120)
def challenge_flood_from_one_uid_evicts_nothing(env):
	"""A local loop asking for challenges (as nobody) gets 429 with Retry-After once it holds its
	share of live keys; a key another caller (root) took before the flood still works, and a whole
	challenge round trip from that caller succeeds while the flood's keys are live."""
	if not ROOT:
		raise Skip("needs root to flood as another uid")
	c = cloud(env)
	h = c.himds
	status, hdrs, _ = api(h, TOKEN, MD)
	check(status == 401, "the legitimate caller's challenge: %d" % status)
	key_path = realm_path(hdrs.get("www-authenticate"))
	key = read_key(key_path)
	nobody = pwd.getpwnam("nobody")
	n = 1100	# more than the 1024 keys himds keeps: the old code evicted the oldest
	r = subprocess.run(["python3", "-c", FLOOD, str(h.port), TOKEN, str(n)], capture_output=True, text=True,
			   timeout=100, user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
	check(r.returncode == 0, "the flood: %s" % r.stderr[-400:])
	out = json.loads(r.stdout)
	counts = {int(k): v for k, v in out["counts"].items()}
	check(counts.get(401, 0) <= 64 and counts.get(429, 0) >= n - 64,
	      "a flood of %d challenges from one uid: %r, expected 429s after its share" % (n, counts))
	check(out["retry_after"] and 1 <= int(out["retry_after"]) <= 60,
	      "429 without a Retry-After in 1..60 s: %r" % out["retry_after"])
	check(os.path.exists(key_path), "the flood evicted a live key of another caller")
	status, _, doc = api(h, TOKEN, dict(MD, Authorization="Basic " + key))
	check(status == 200 and "access_token" in doc, "the key taken before the flood: %d %r" % (status, doc))
	status, _, body, _, _ = curl_token(h)
	check(status == 200, "a round trip from another uid after the flood: %d %s" % (status, body[:200]))
