"""A daemon started as root refuses a run dir that another user can change.

Expectations (as root; the tests skip otherwise):
- extmgr and guestconfig (they stay root), and arcproxy (root until it drops to its user), exit 1 with one line naming the run dir when it is owned
  by another user (nobody), is a symlink (to that user's dir, or to root's own: never followed), or
  is writable by others without the sticky bit; nothing is written in it.
- A run dir that root's 0755 or sticky, as /tmp, is taken (the daemon starts, writes its pid file).
"""

import os
import pwd
import re
import shutil
import subprocess
import tempfile

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
