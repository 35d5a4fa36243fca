"""A daemon started as root refuses a run dir that another user can change.

Expectations (as root; the tests skip otherwise):
- extmgr and guestconfig (they stay root), and arcproxy (root until it drops to its user), exit 1 with one line naming the run dir when it is owned
  by another user (nobody), is a symlink (to that user's dir, or to root's own: never followed), or
  is writable by others without the sticky bit; nothing is written in it.
- A run dir that root's 0755 or sticky, as /tmp, is taken (the daemon starts, writes its pid file).
- A run dir whose path another user could change (a parent of nobody's) is refused the same way:
  "<run>: on its path <parent>: owned by uid N, not root: refused".
- himds's <run>/tokens and arcnotify's <run>/notify, planted as another user's directory (in a
  sticky run dir) or as a symlink, are refused in one line (exit 1) and left as they were.
"""

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile

import fixtures
import fx_remote
import harness
from harness import check, poll, test

PROGS = ("extmgr", "guestconfig", "arcproxy")


def _base():
	if os.geteuid() != 0:
		raise harness.Skip("the run dir is checked for root only")
	base = tempfile.mkdtemp(prefix="rundir-", dir=harness.tmp_root())
	os.chmod(base, 0o755)
	for d in ("conf", "state"):
		os.mkdir(os.path.join(base, d), 0o755)
	with open(os.path.join(base, "conf", "arcproxy.conf"), "w") as f:
		f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "";\n' % harness.free_port())
	return base


def _run(prog, base, run_dir):
	"""prog -d on run_dir: the CompletedProcess, or None when it was still running after 10 s."""
	cmd = [str(harness.BIN_DIR / prog), "-d", "--config-dir", os.path.join(base, "conf"),
	       "--state-dir", os.path.join(base, "state"), "--run-dir", run_dir]
	p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
			     stderr=subprocess.PIPE, text=True)
	try:
		out, err = p.communicate(timeout=10)
	except subprocess.TimeoutExpired:
		p.kill()
		p.communicate()
		return None
	return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def _refused(prog, base, run_dir, why):
	r = _run(prog, base, run_dir)
	check(r is not None, "%s took the run dir %s (%s) and kept running" % (prog, run_dir, why))
	want = "%s: %s: %s\n" % (prog, run_dir, why)
	check(r.returncode == 1 and r.stderr == want,
	      "%s on %s: exit %s, stderr %r, want 1 and %r" % (prog, run_dir, r.returncode, r.stderr, want))


@test(timeout=120)
def root_refuses_a_run_dir_another_user_can_change(env):
	base = _base()
	try:
		nobody = pwd.getpwnam("nobody")
		other = os.path.join(base, "other")
		os.mkdir(other, 0o755)
		os.chown(other, nobody.pw_uid, nobody.pw_gid)
		link = os.path.join(base, "link")
		os.symlink(other, link)
		mine = os.path.join(base, "mine")
		os.mkdir(mine, 0o755)
		link_mine = os.path.join(base, "link-mine")
		os.symlink(mine, link_mine)
		open_dir = os.path.join(base, "open")
		os.mkdir(open_dir)
		os.chmod(open_dir, 0o777)
		for prog in PROGS:
			_refused(prog, base, other, "owned by uid %d, not root: refused" % nobody.pw_uid)
			_refused(prog, base, link, "a symbolic link, not followed: refused")
			_refused(prog, base, link_mine, "a symbolic link, not followed: refused")
			_refused(prog, base, open_dir, "mode 0777, group 0: writable by another user and "
				 "not sticky: refused")
			for d in (other, mine, open_dir):
				check(os.listdir(d) == [], "%s wrote in %s: %r" % (prog, d, os.listdir(d)))
	finally:
		shutil.rmtree(base, ignore_errors=True)


@test(timeout=60)
def root_takes_its_own_or_a_sticky_run_dir(env):
	base = _base()
	try:
		sticky = os.path.join(base, "sticky")
		os.mkdir(sticky)
		os.chmod(sticky, 0o1777)
		cmd = [str(harness.BIN_DIR / "extmgr"), "-d", "--config-dir", os.path.join(base, "conf"),
		       "--state-dir", os.path.join(base, "state"), "--run-dir", sticky]
		with open(os.path.join(base, "stderr.log"), "wb") as log:
			p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
		try:
			pid = os.path.join(sticky, "extmgr.pid")
			check(poll(lambda: os.path.exists(pid) or p.poll() is not None, timeout=10),
			      "extmgr wrote no pid file in %s" % sticky)
			check(p.poll() is None and os.lstat(pid).st_uid == 0,
			      "extmgr on a sticky root's run dir: exit %s" % p.poll())
		finally:
			p.terminate()
			p.wait(10)
		check(re.search(r"stopped", open(os.path.join(base, "stderr.log")).read()),
		      "extmgr did not stop on SIGTERM")
	finally:
		shutil.rmtree(base, ignore_errors=True)


@test(timeout=60)
def root_takes_a_run_dir_through_roots_symlink(env):
	"""A parent that is root's symlink (as Debian's /var/run -> /run) is root's choice: followed;
	the run dir itself being a symlink stays refused (root_refuses_a_run_dir_another_user_can_change)."""
	base = _base()
	try:
		real = os.path.join(base, "real")
		os.mkdir(real, 0o755)
		os.symlink(real, os.path.join(base, "alias"))
		run = os.path.join(base, "alias", "run")
		r = _run("extmgr", base, run)	# killed after 10 s when it runs
		check(r is None, "extmgr on %s: exit %s, stderr %r" % (run, r and r.returncode,
								    r and r.stderr))
		check(os.path.isdir(os.path.join(real, "run")), "no run dir made in %s" % real)
	finally:
		shutil.rmtree(base, ignore_errors=True)


@test(timeout=120)
def root_refuses_a_run_dir_whose_path_another_user_can_change(env):
	"""The run dir is root's 0755, but its parent is nobody's: nobody could rename it and put
	any directory (root's /etc, say) in its place, so the path names nothing root can trust."""
	base = _base()
	try:
		nobody = pwd.getpwnam("nobody")
		theirs = os.path.join(base, "theirs")
		run = os.path.join(theirs, "run")
		os.mkdir(theirs, 0o755)
		os.mkdir(run, 0o755)
		os.chown(theirs, nobody.pw_uid, nobody.pw_gid)
		for prog in PROGS:
			_refused(prog, base, run, "on its path %s: owned by uid %d, not root: refused"
				 % (theirs, nobody.pw_uid))
			check(os.listdir(run) == [], "%s wrote in %s: %r" % (prog, run, os.listdir(run)))
	finally:
		shutil.rmtree(base, ignore_errors=True)


def _start_refused(prog, base, run_dir, why):
	"""prog -d exits 1 while starting, its last line (a fatal) ending in why."""
	r = _run(prog, base, run_dir)
	check(r is not None, "%s took what it should refuse in %s and kept running" % (prog, run_dir))
	lines = r.stderr.splitlines()
	check(r.returncode == 1 and lines and lines[-1].endswith(why),
	      "%s on %s: exit %s, stderr %r, want 1 and a last line ending in %r"
	      % (prog, run_dir, r.returncode, r.stderr, why))


@test(timeout=120)
def root_refuses_its_run_subdir_planted_by_another_user(env):
	"""himds's <run>/tokens and arcnotify's <run>/notify, there already as another user's
	directory (a sticky run dir lets anyone make them) or as a symlink: root does not take them
	over, it says so in one line and exits 1; what was planted stays as it was."""
	base = _base()
	fixtures.ensure_users()
	fx_remote.ensure_notify_user()
	try:
		nobody = pwd.getpwnam("nobody")
		with open(os.path.join(base, "conf", "himds.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\narcproxy_admin = "";\n' % harness.free_port())
		run = os.path.join(base, "run")
		os.mkdir(run)
		os.chmod(run, 0o1777)
		elsewhere = os.path.join(base, "elsewhere")
		os.mkdir(elsewhere, 0o700)
		for prog, sub, user in (("himds", "tokens", "himds"), ("arcnotify", "notify", "arcnotify")):
			uid = pwd.getpwnam(user).pw_uid
			planted = os.path.join(run, sub)
			os.mkdir(planted, 0o777)
			os.chmod(planted, 0o777)
			os.chown(planted, nobody.pw_uid, nobody.pw_gid)
			_start_refused(prog, base, run, "%s: owned by uid %d, not root's or uid %d's: refused"
				       % (planted, nobody.pw_uid, uid))
			st = os.lstat(planted)
			check(st.st_uid == nobody.pw_uid and stat.S_IMODE(st.st_mode) == 0o777,
			      "%s changed %s: uid %d mode %o" % (prog, planted, st.st_uid, st.st_mode))
			os.rmdir(planted)
			os.symlink(elsewhere, planted)
			_start_refused(prog, base, run, "%s: a symbolic link, not followed" % planted)
			st = os.stat(elsewhere)
			check(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o700,
			      "%s changed %s through the symlink" % (prog, elsewhere))
			os.unlink(planted)
	finally:
		shutil.rmtree(base, ignore_errors=True)
