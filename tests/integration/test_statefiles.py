"""State files: started as root, no daemon and no command follows a path that another user planted.

Expectations (run as root; skipped otherwise):
- The arcproxy and himds users (members of group arc, as `make run` makes them) may write where
  their daemon writes.  What they plant there -- a symlink where the access log, the token key
  directory, <state>/himds or <state>/arcproxy would go, or symlinks at every temp-file name that
  `<name>.tmp.<pid>` would give for the next pids -- points at a root-owned victim file or
  directory.  arcproxy and himds started as root, and `azcmagent connect` run as root, leave the
  victims as they were: owner, group, mode and content.  (The state dir here is root:arc 0775, the
  old `make run` layout, so that the same attack reaches the old paths and the new ones.)
- A daemon that finds a symlink where its own directory or log should be refuses to start and
  says so; `azcmagent connect` still stores the identity, in <state>/himds, himds:arc, key 0640.
- An access log in a folder under <state>/arcproxy ("sub/access.log") is reached without following
  a symlink the arcproxy user put in the folder's place: refused, nothing made where it pointed.
- The run dir (pid files) is given by ARC_RUN_DIR here, as the installed units can.
"""

import grp
import os
import pwd
import socket
import stat
import subprocess
import tempfile
import time

import harness
import test_azcmagent as taz
from harness import Skip, check, free_port, test, wait_port

ROOT = os.geteuid() == 0
VICTIM_TEXT = "root's file: must stay as it is\n"


def ensure_users():
	"""Group arc and the users arcproxy and himds in it, as `make run` makes them."""
	try:
		grp.getgrnam("arc")
	except KeyError:
		subprocess.run(["groupadd", "--system", "arc"], check=True)
	for u in ("arcproxy", "himds"):
		try:
			pwd.getpwnam(u)
		except KeyError:
			subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
					"/usr/sbin/nologin", "-G", "arc", u], check=True)
		if u not in grp.getgrnam("arc").gr_mem:
			subprocess.run(["usermod", "-a", "-G", "arc", u], check=True)


class Env:
	def __init__(self):
		self.proxy = None	# run.py prints env.proxy's stderr tail on failure
		self.dirs = []
		self.procs = []
		self.taz = None		# test_azcmagent's environment, for connect


def setup():
	env = Env()
	if ROOT:
		ensure_users()
	return env


def teardown(env):
	for p in env.procs:
		if p.poll() is None:
			p.kill()
			p.wait(5)
	if env.taz is not None:
		taz.teardown(env.taz)
	if not harness.KEEP:
		for d in env.dirs:
			subprocess.run(["rm", "-rf", d])
	return []


def need_root():
	if not ROOT:
		raise Skip("needs root: the daemons must start as root for the attack to mean anything")


def new_base(env, name):
	d = tempfile.mkdtemp(prefix=name + "-", dir=harness.tmp_root())
	os.chmod(d, 0o755)
	env.dirs.append(d)
	return d


def victims(base):
	"""A root-owned file and directory that no one but root may change."""
	d = os.path.join(base, "root-only")
	os.mkdir(d, 0o700)
	f = os.path.join(d, "victim")
	with open(f, "w") as fh:
		fh.write(VICTIM_TEXT)
	os.chmod(f, 0o600)
	vd = os.path.join(d, "victim.d")
	os.mkdir(vd, 0o700)
	return f, vd


def snapshot(path):
	st = os.lstat(path)
	body = None
	if stat.S_ISREG(st.st_mode):
		with open(path, "rb") as fh:
			body = fh.read()
	else:
		body = sorted(os.listdir(path))
	return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), body)


def old_style_state_dir(path):
	"""root:arc 0775: what the daemons' users could write before the layout changed."""
	os.makedirs(path, exist_ok=True)
	os.chown(path, 0, grp.getgrnam("arc").gr_gid)
	os.chmod(path, 0o775)


def plant(user, links):
	"""As user (with group arc), symlink each path in links to its target."""
	pw = pwd.getpwnam(user)
	script = "import os,sys\nfor t, p in zip(sys.argv[1::2], sys.argv[2::2]):\n\tos.symlink(t, p)\n"
	args = []
	for path, target in links:
		args += [target, path]
	r = subprocess.run(["python3", "-c", script, *args], user=pw.pw_uid, group=pw.pw_gid,
			   extra_groups=[grp.getgrnam("arc").gr_gid], capture_output=True, text=True)
	check(r.returncode == 0, "planting symlinks as %s: %s" % (user, r.stderr))


def run_briefly(env, cmd, port, stderr_path, extra_env=None):
	"""Start a daemon as root, let it get as far as it gets (listening, or exiting), stop it."""
	e = dict(os.environ, **(extra_env or {}))
	with open(stderr_path, "ab") as err:
		p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=e)
	env.procs.append(p)
	wait_port(port, 5, p)
	time.sleep(0.3)
	harness.terminate(p)
	with open(stderr_path, errors="replace") as f:
		return p.returncode, f.read()


@test
def arcproxy_as_root_follows_no_planted_symlink(env):
	need_root()
	base = new_base(env, "sf-arcproxy")
	conf, state, run = (os.path.join(base, d) for d in ("conf", "state", "run"))
	os.mkdir(conf)
	os.mkdir(run)
	old_style_state_dir(state)
	port, admin = free_port(), free_port()
	with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
		f.write(harness.conf_text({"listen": ["127.0.0.1:%d" % port], "admin_listen": "127.0.0.1:%d" % admin,
					   "access_log": "arcproxy-access.log", "routes": [], "hosts": []}))
	victim, victim_dir = victims(base)
	before = snapshot(victim), snapshot(victim_dir)
	# Where the log went before (the state dir) and where it goes now (<state>/arcproxy).
	plant("arcproxy", [(os.path.join(state, "arcproxy-access.log"), victim),
			   (os.path.join(state, "arcproxy"), victim_dir)])
	rc, text = run_briefly(env, [str(harness.ARCPROXY), "-d", "--config-dir", conf, "--state-dir", state],
			       port, os.path.join(base, "stderr.log"), {"ARC_RUN_DIR": run})
	check((snapshot(victim), snapshot(victim_dir)) == before,
	      "arcproxy started as root changed a root-owned file through a planted symlink: %r -> %r\n%s"
	      % (before, (snapshot(victim), snapshot(victim_dir)), text[-800:]))
	check(rc not in (0, None) and "symbolic link" in text,
	      "arcproxy did not refuse the symlinked <state>/arcproxy (exit %s):\n%s" % (rc, text[-800:]))


def _arcproxy_root_layout(env, name, settings=None):
	"""The new layout for arcproxy started as root: conf, state and run dirs in a fresh base,
	<state>/arcproxy the arcproxy user's 0750, and an arcproxy.conf with settings. Returns
	(base, conf, state, run, own, port)."""
	need_root()
	base = new_base(env, name)
	conf, state, run = (os.path.join(base, d) for d in ("conf", "state", "run"))
	os.mkdir(conf)
	os.mkdir(run)
	os.mkdir(state)
	own = os.path.join(state, "arcproxy")
	os.mkdir(own, 0o750)
	pw = pwd.getpwnam("arcproxy")
	os.chown(own, pw.pw_uid, pw.pw_gid)
	port, admin = free_port(), free_port()
	with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
		f.write(harness.conf_text(dict({"listen": ["127.0.0.1:%d" % port],
						"admin_listen": "127.0.0.1:%d" % admin, "routes": [], "hosts": []},
					       **(settings or {}))))
	return base, conf, state, run, own, port


@test
def arcproxy_as_root_refuses_a_symlinked_log(env):
	"""The new layout: <state>/arcproxy is the arcproxy user's, who plants the log as a symlink."""
	base, conf, state, run, own, port = _arcproxy_root_layout(env, "sf-arcproxy-own")
	victim, _ = victims(base)
	before = snapshot(victim)
	plant("arcproxy", [(os.path.join(own, "arcproxy-access.log"), victim)])
	rc, text = run_briefly(env, [str(harness.ARCPROXY), "-d", "--config-dir", conf, "--state-dir", state],
			       port, os.path.join(base, "stderr.log"), {"ARC_RUN_DIR": run})
	check(snapshot(victim) == before, "the victim changed: %r -> %r" % (before, snapshot(victim)))
	check(rc not in (0, None) and "symbolic link" in text,
	      "arcproxy did not refuse a symlinked access log (exit %s):\n%s" % (rc, text[-800:]))


@test
def arcproxy_as_root_refuses_a_symlinked_log_folder(env):
	"""access_log = "sub/access.log": sub, under <state>/arcproxy, is the arcproxy user's to
	replace. A symlink there to a root-only directory made root create the log in it, owned by
	arcproxy (its dirname was opened by path); refused now, the directory left as it was."""
	base, conf, state, run, own, port = _arcproxy_root_layout(env, "sf-arcproxy-sub",
								  {"access_log": "sub/access.log"})
	_, victim_dir = victims(base)
	before = snapshot(victim_dir)
	plant("arcproxy", [(os.path.join(own, "sub"), victim_dir)])
	rc, text = run_briefly(env, [str(harness.ARCPROXY), "-d", "--config-dir", conf, "--state-dir", state],
			       port, os.path.join(base, "stderr.log"), {"ARC_RUN_DIR": run})
	check(snapshot(victim_dir) == before, "arcproxy as root made its log in a root-only directory through "
	      "a planted symlink: %r -> %r" % (before, snapshot(victim_dir)))
	want = "access log: %s/sub: a symbolic link, not followed" % own
	check(rc not in (0, None) and want in text,
	      "arcproxy did not refuse the symlinked log folder (exit %s), want %r:\n%s" % (rc, want, text[-800:]))
	# The same folder made by the arcproxy user itself: taken, the log made there.
	os.unlink(os.path.join(own, "sub"))
	os.mkdir(os.path.join(own, "sub"), 0o750)
	pw = pwd.getpwnam("arcproxy")
	os.chown(os.path.join(own, "sub"), pw.pw_uid, pw.pw_gid)
	rc, text = run_briefly(env, [str(harness.ARCPROXY), "-d", "--config-dir", conf, "--state-dir", state],
			       port, os.path.join(base, "stderr2.log"), {"ARC_RUN_DIR": run})
	check(os.path.isfile(os.path.join(own, "sub", "access.log")),
	      "arcproxy made no log in its own sub folder (exit %s):\n%s" % (rc, text[-800:]))


@test
def himds_as_root_follows_no_planted_symlink(env):
	need_root()
	base = new_base(env, "sf-himds")
	conf, state, run = (os.path.join(base, d) for d in ("conf", "state", "run"))
	os.mkdir(conf)
	os.mkdir(run)
	old_style_state_dir(state)
	port = free_port()
	with open(os.path.join(conf, "himds.conf"), "w") as f:
		f.write(harness.conf_text({"listen": ["127.0.0.1:%d" % port], "proxy": "http://127.0.0.1:9"}))
	victim, victim_dir = victims(base)
	other_dir = os.path.join(os.path.dirname(victim), "other.d")
	os.mkdir(other_dir, 0o700)
	before = snapshot(victim), snapshot(victim_dir), snapshot(other_dir)
	# The token key directory where it was (<state>/tokens), himds's own directory, its pid file.
	plant("himds", [(os.path.join(state, "tokens"), victim_dir),
			(os.path.join(state, "himds"), other_dir),
			(os.path.join(state, "himds.pid"), victim)])
	rc, text = run_briefly(env, [str(harness.BIN_DIR / "himds"), "-d", "--config-dir", conf,
				     "--state-dir", state], port, os.path.join(base, "stderr.log"),
			       {"ARC_RUN_DIR": run})
	after = snapshot(victim), snapshot(victim_dir), snapshot(other_dir)
	check(after == before, "himds started as root changed a root-owned file or directory through a "
	      "planted symlink: %r -> %r\n%s" % (before, after, text[-800:]))
	check(rc not in (0, None) and "symbolic link" in text,
	      "himds did not refuse the symlinked <state>/himds (exit %s):\n%s" % (rc, text[-800:]))


def azcm_env(env):
	"""test_azcmagent's cloudsim, gateway and arcproxy, set up once."""
	if env.taz is None:
		env.taz = taz.setup()
	return env.taz


@test(timeout=90)
def azcmagent_connect_as_root_follows_no_planted_temp_file(env):
	need_root()
	t = azcm_env(env)
	base = new_base(env, "sf-azcm")
	state = os.path.join(base, "state")
	old_style_state_dir(state)
	own = os.path.join(state, "himds")
	os.mkdir(own, 0o750)
	os.chown(own, pwd.getpwnam("himds").pw_uid, grp.getgrnam("arc").gr_gid)
	conf = t.proxy.conf_dir		# connect switches this arcproxy to the gateway
	victim, _ = victims(base)
	before = snapshot(victim)
	# Every <name>.tmp.<pid> that the next pids would give, in the state dir and in <state>/himds.
	with open("/proc/sys/kernel/ns_last_pid") as f:
		last = int(f.read())
	links = []
	for pid in range(last + 1, last + 1500):
		for name in ("machine.json", "machine.key", "machine.crt"):
			for d in (state, own):
				links.append((os.path.join(d, "%s.tmp.%d" % (name, pid)), victim))
	plant("himds", links)
	cmd = [str(taz.AZCMAGENT), *taz.connect_args(t, name="statefiles-m1"), "--config-dir", conf,
	       "--state-dir", state, "--proxy", "http://127.0.0.1:%d" % t.proxy.port]
	r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
			   env=dict(taz.clean_environ(), ARC_RUN_DIR=t.proxy.run_dir))
	check(snapshot(victim) == before, "azcmagent connect as root wrote through a planted temp-file symlink: "
	      "%r -> %r (exit %d: %s)" % (before, snapshot(victim), r.returncode, r.stderr[-400:]))
	check(r.returncode == 0, "connect: exit %d: %s" % (r.returncode, r.stderr[-600:]))
	key = os.stat(os.path.join(own, "machine.key"), follow_symlinks=False)
	check(stat.S_ISREG(key.st_mode) and stat.S_IMODE(key.st_mode) == 0o640 and
	      key.st_uid == pwd.getpwnam("himds").pw_uid and key.st_gid == grp.getgrnam("arc").gr_gid,
	      "machine.key: %o %d:%d, want himds:arc 0640" % (key.st_mode, key.st_uid, key.st_gid))
	machine = os.stat(os.path.join(state, "machine.json"), follow_symlinks=False)
	check(stat.S_ISREG(machine.st_mode) and machine.st_uid == 0, "machine.json is not root's regular file")
