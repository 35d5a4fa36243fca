"""Root reads nothing in a daemon user's folder by a path that user can change.

<state>/himds belongs to himds (himds:arc 0750): a compromised himds can put a symlink (to a
root-only file), a FIFO (which hangs whoever opens it) or a hard link where machine.crt,
machine.key and himds.json go.  The root processes that read those files take them as himds's
data: opened without following a link, a regular file of one link, bounded, and refused in one
line naming the file otherwise.

Expectations (run as root; skipped otherwise), each planted by the himds user itself:
- extmgr, for its calls to the cloud (the proxy says 200 to every CONNECT and holds the
  connection, so TLS reaches the client key): a FIFO as machine.key is refused at once
  ("<state>/himds/machine.key: not a regular file with one link, refused"), where libcurl hung
  the pass for good; a symlink as machine.key is refused, never followed.
- guestconfig, which loads the identity (lib/machine.c) before each call: a symlink to a good
  key elsewhere and a FIFO are refused by name, the cloud never called with them.
- arcproxy started as root with a gateway configured: a FIFO as machine.key hung it before it
  ever listened; it now listens and says "machine identity refused: ...machine.key: ...".
- machine.json, root's, is not read through a symlink either (the old group-writable state dir
  let a member of arc put one there): extmgr and guestconfig refuse it by name.
- azcmagent logs, with the access log in a folder of <state>/arcproxy: that folder planted as a
  symlink (by the arcproxy user) to a root-only directory puts nothing of it in the archive.
- azcmagent show, when himds does not answer, reads <state>/himds/himds.json: a hard link there to
  a root-only file is refused by name and no byte of that file reaches the output (jansson's
  error quoted its first token).
"""

import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import harness
from harness import Skip, check, free_port, test

AZCMAGENT = harness.BIN_DIR / "azcmagent"
SECRET = "rootsecretxqzvbk"	# letters only: jansson quoted such a token whole
PARALLEL = True	# its own ports and temp dirs only


def _need_root():
	if os.geteuid() != 0:
		raise Skip("needs root: the readers must be root for the attack to mean anything")
	import test_statefiles
	test_statefiles.ensure_users()


def _as_himds(script, *args):
	"""Run a Python snippet as the himds user (group arc), as a compromised himds would."""
	pw = pwd.getpwnam("himds")
	r = subprocess.run(["python3", "-c", script, *args], user=pw.pw_uid, group=pw.pw_gid,
			   extra_groups=[grp.getgrnam("arc").gr_gid], capture_output=True, text=True,
			   timeout=20)
	check(r.returncode == 0, "as himds: %s" % r.stderr)


def _plant(path, what, target=None):
	"""As himds: path replaced by a FIFO, or a symlink to target."""
	_as_himds("import os,sys\np=sys.argv[1]\n"
		  "os.path.lexists(p) and os.unlink(p)\n"
		  "os.mkfifo(p, 0o640) if sys.argv[2] == 'fifo' else os.symlink(sys.argv[3], p)\n",
		  path, what, target or "")


class Tunnel:
	"""A proxy that says 200 to every CONNECT and then holds the connection: the client goes on
	to TLS, where it loads its certificate and key."""

	def __init__(self):
		self.lsn = socket.socket()
		self.lsn.bind(("127.0.0.1", 0))
		self.lsn.listen(16)
		self.held = []
		self.url = "http://127.0.0.1:%d" % self.lsn.getsockname()[1]
		threading.Thread(target=self._run, daemon=True).start()

	def _run(self):
		while True:
			try:
				c, _ = self.lsn.accept()
			except OSError:
				return
			try:
				c.recv(4096)
				c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
			except OSError:
				pass
			self.held.append(c)

	def close(self):
		self.lsn.close()
		for c in self.held:
			c.close()


class Env:
	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail on failure
		self.tmp = tempfile.mkdtemp(prefix="review-state-", dir=harness.tmp_root())
		os.chmod(self.tmp, 0o755)
		self.procs = []
		self.tunnel = None


def setup():
	return Env()


def teardown(env):
	for p in env.procs:
		if p.poll() is None:
			p.kill()
			p.wait(5)
	if env.tunnel is not None:
		env.tunnel.close()
	if not harness.KEEP:
		shutil.rmtree(env.tmp, ignore_errors=True)
	return []


def _identity(env, name):
	"""conf, state and run dirs; <state>/himds himds:arc 0750 with a good machine.crt and .key
	(himds's), machine.json (root's), and a root-only copy of the pair elsewhere."""
	base = os.path.join(env.tmp, name)
	conf, state, run, private = (os.path.join(base, d) for d in ("conf", "state", "run", "private"))
	for d in (conf, state, run):
		os.makedirs(d, 0o755)
	os.makedirs(private, 0o700)
	crt, key = os.path.join(private, "other.crt"), os.path.join(private, "other.key")
	subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=m1", "-days", "2"],
		       check=True, capture_output=True, timeout=20)
	os.chmod(key, 0o600)
	own = os.path.join(state, "himds")
	os.mkdir(own, 0o750)
	uid, gid = pwd.getpwnam("himds").pw_uid, grp.getgrnam("arc").gr_gid
	os.chown(own, uid, gid)
	for src, dst, mode in ((crt, "machine.crt", 0o644), (key, "machine.key", 0o640)):
		shutil.copy(src, os.path.join(own, dst))
		os.chown(os.path.join(own, dst), uid, gid)
		os.chmod(os.path.join(own, dst), mode)
	with open(os.path.join(state, "machine.json"), "w") as f:
		json.dump({"cloudUrl": "https://management.cloudsim.test", "caFile": crt,
			   "resource": {"name": "m1", "resourceId": "/subscriptions/s/resourceGroups/r/"
					"providers/Microsoft.HybridCompute/machines/m1"}}, f)
	return conf, state, run, own, key


def _run_until(env, cmd, stderr_path, want, timeout):
	"""Start a daemon as root and wait until its stderr holds want (or timeout); then stop it.
	Returns its stderr."""
	with open(stderr_path, "ab") as err:
		p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
	env.procs.append(p)
	deadline = time.monotonic() + timeout
	text = ""
	while time.monotonic() < deadline:
		with open(stderr_path, errors="replace") as f:
			text = f.read()
		if want in text or p.poll() is not None:
			break
		time.sleep(0.2)
	harness.terminate(p)
	with open(stderr_path, errors="replace") as f:
		return f.read()


def _agentlet(env, prog, name, conf_name, settings):
	"""prog as root against an identity whose machine.key himds replaced by a FIFO, then by a
	symlink to the root-only key: each refused by name, in time."""
	_need_root()
	if env.tunnel is None:
		env.tunnel = Tunnel()
	conf, state, run, own, other_key = _identity(env, name)
	settings = dict(settings, proxy=env.tunnel.url)
	with open(os.path.join(conf, conf_name), "w") as f:
		f.write(harness.conf_text(settings))
	key = os.path.join(own, "machine.key")
	for plant, want in (("fifo", key + ": not a regular file with one link, refused"),
			    ("symlink", key + ": a symbolic link, not followed")):
		_plant(key, plant, other_key)
		text = _run_until(env, [str(harness.BIN_DIR / prog), "-d", "-v", "--config-dir", conf,
					"--state-dir", state, "--run-dir", run],
				  os.path.join(env.tmp, "%s-%s.log" % (name, plant)), want, 15)
		check(want in text, "%s as root with a %s planted as machine.key: want %r in its log:\n%s"
		      % (prog, plant, want, text[-1500:]))


@test(timeout=90)
def extmgr_follows_nothing_planted_in_himds_folder(env):
	_agentlet(env, "extmgr", "extmgr", "extmgr.conf",
		  {"poll_seconds": 1, "cloud_timeout_seconds": 5})


@test(timeout=90)
def guestconfig_follows_nothing_planted_in_himds_folder(env):
	_agentlet(env, "guestconfig", "guestconfig", "guestconfig.conf",
		  {"poll_seconds": 1, "cloud_timeout_seconds": 5})


@test(timeout=60)
def arcproxy_as_root_reads_no_planted_identity(env):
	_need_root()
	conf, state, run, own, other_key = _identity(env, "arcproxy")
	ca = os.path.join(os.path.dirname(other_key), "other.crt")	# root's: a CA only root changes
	port, admin = free_port(), free_port()
	with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
		f.write(harness.conf_text({"listen": ["127.0.0.1:%d" % port], "admin_listen": "127.0.0.1:%d" % admin,
					   "access_log": "-", "routes": [], "hosts": []}))
	with open(os.path.join(conf, "agent.conf"), "w") as f:
		f.write('connection = { type = "gateway"; };\ngateway = { url = "https://127.0.0.1:%d"; '
			'ca_file = "%s"; };\n' % (free_port(), ca))
	key = os.path.join(own, "machine.key")
	_plant(key, "fifo")
	# Its listeners are bound before the gateway route reads the identity: "listening" is
	# logged once all of it is done.
	text = _run_until(env, [str(harness.ARCPROXY), "-d", "--config-dir", conf, "--state-dir", state,
				"--run-dir", run], os.path.join(env.tmp, "arcproxy.log"), "listening with", 8)
	check("listening with" in text, "arcproxy as root never listened with a FIFO planted as machine.key:\n%s"
	      % text[-1500:])
	want = "machine identity refused: %s: not a regular file with one link, refused" % key
	check(want in text, "want %r in arcproxy's log:\n%s" % (want, text[-1500:]))


@test(timeout=60)
def azcmagent_show_reads_no_planted_himds_json(env):
	_need_root()
	conf, state, run, own, _ = _identity(env, "show")
	victim = os.path.join(os.path.dirname(state), "private", "victim")
	with open(victim, "w") as f:
		f.write(SECRET + ":x:0:0\n")
	os.chmod(victim, 0o600)
	# Where fs.protected_hardlinks is 0, himds may link any file it can name; root makes the
	# same link here, whatever this machine's setting.
	path = os.path.join(own, "himds.json")
	os.link(victim, path)
	with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
		f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\nroutes = ( );\n'
			% (free_port(), free_port()))
	base = [str(AZCMAGENT), "show", "--config-dir", conf, "--state-dir", state, "--run-dir", run,
		"--himds", "http://127.0.0.1:%d" % free_port()]
	for args in ([], ["-j"]):
		r = subprocess.run(base + args, capture_output=True, text=True, timeout=20)
		out = r.stdout + r.stderr
		check(SECRET not in out, "show %s printed the root-only file linked as himds.json: %r"
		      % (" ".join(args), out[-800:]))
		want = path + ": not a regular file with one link, refused"
		check(want in r.stderr, "show %s: want %r on stderr, got %r" % (" ".join(args), want,
										r.stderr[-800:]))


@test(timeout=60)
def azcmagent_logs_follows_no_symlinked_log_folder(env):
	"""access_log = "sub/access.log" puts the log in a folder of <state>/arcproxy, which the
	arcproxy user may replace by a symlink: root's `azcmagent logs` opened the folder by path and
	copied a root-only access.log from wherever it pointed into the archive."""
	_need_root()
	import test_review_logs
	import test_statefiles
	base = os.path.join(env.tmp, "logs")
	conf, state, run, private = (os.path.join(base, d) for d in ("conf", "state", "run", "private"))
	for d in (conf, state, run):
		os.makedirs(d, 0o755)
	os.makedirs(private, 0o700)
	with open(os.path.join(private, "access.log"), "w") as f:
		f.write(SECRET + "\n")
	os.chmod(os.path.join(private, "access.log"), 0o600)
	own = os.path.join(state, "arcproxy")
	os.mkdir(own, 0o750)
	pw = pwd.getpwnam("arcproxy")
	os.chown(own, pw.pw_uid, pw.pw_gid)
	with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
		f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\nroutes = ( );\n'
			'access_log = "sub/access.log";\n' % (free_port(), free_port()))
	test_statefiles.plant("arcproxy", [(os.path.join(own, "sub"), private)])
	members = test_review_logs.collect_logs(base, conf, state, run)
	for name, text in members.items():
		check(SECRET not in text, "the archive's %s holds a root-only file through the symlinked "
		      "log folder" % name)
	# The arcproxy user's own folder: its log is taken.
	os.unlink(os.path.join(own, "sub"))
	os.mkdir(os.path.join(own, "sub"))
	with open(os.path.join(own, "sub", "access.log"), "w") as f:
		f.write("an access log line\n")
	members = test_review_logs.collect_logs(base, conf, state, run)
	check(members.get("logs/access.log") == "an access log line\n",
	      "the archive has not the log of <state>/arcproxy/sub: %r" % sorted(members))


@test(timeout=60)
def extmgr_and_guestconfig_follow_no_symlinked_machine_json(env):
	"""machine.json is root's, in root's state dir; where that dir is group-writable (root:arc
	0775, the old layout) a member of arc could put a symlink there: extmgr (atomicfile_read by
	path) followed it, guestconfig too. Both refuse it by name now."""
	_need_root()
	import test_statefiles
	if env.tunnel is None:
		env.tunnel = Tunnel()
	for prog, conf_name in (("extmgr", "extmgr.conf"), ("guestconfig", "guestconfig.conf")):
		conf, state, run, own, _ = _identity(env, "mj-" + prog)
		real = os.path.join(os.path.dirname(state), "private", "machine.json")
		os.rename(os.path.join(state, "machine.json"), real)
		test_statefiles.old_style_state_dir(state)
		test_statefiles.plant("himds", [(os.path.join(state, "machine.json"), real)])
		with open(os.path.join(conf, conf_name), "w") as f:
			f.write(harness.conf_text({"poll_seconds": 1, "cloud_timeout_seconds": 5,
						   "proxy": env.tunnel.url}))
		want = os.path.join(state, "machine.json") + ": a symbolic link, not followed"
		text = _run_until(env, [str(harness.BIN_DIR / prog), "-d", "-v", "--config-dir", conf,
					"--state-dir", state, "--run-dir", run],
				  os.path.join(env.tmp, "mj-%s.log" % prog), want, 15)
		check(want in text, "%s as root with machine.json a symlink: want %r in its log:\n%s"
		      % (prog, want, text[-1500:]))
