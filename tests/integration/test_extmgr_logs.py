"""test_extmgr_logs.py -- a daemon that an extension's enable starts keeps writing CommandExecution.log; extmgr keeps that log small.

Expectations (extmgr polling every second):
- The daemon that the enable left behind writes its output to the handler's CommandExecution.log
  long after the enable ended; at each pass extmgr cuts the log in place once it is past 4 MiB to
  a line saying so and its last part (from a whole line), so that the log stays about the cap
  while the daemon writes several times more. The daemon goes on writing at the new end (O_APPEND:
  no hole of NUL bytes), and once it stops the log is at most 4 MiB.
- The log is never followed through a symlink: a CommandExecution.log that is a link to a large
  file elsewhere leaves that file as it was, pass after pass, and extmgr says why.
"""

import json
import os
import re
import signal

import fx_extmgr as fx
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

TAG = "chatty-5f3e"		# the daemon's $0, to find it in /proc
TYPE = "Chatty"
CAP = 4 * 1024 * 1024		# HANDLER_LOG_MAX
CHUNK = 100000			# bytes of x per line the daemon writes
LINES = 400			# it stops after that many (40 MB): bounded whatever happens


def setup():
	return fx.extmgr_env()


def teardown(env):
	kill_daemon()
	return fx.stop_extmgr_env(env)


def kill_daemon():
	for pid in fx.sleepers(TAG):
		try:
			os.kill(pid, signal.SIGKILL)
		except OSError:
			pass
	return poll(lambda: not fx.sleepers(TAG), timeout=5)


def handler(env):
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	loop = ('i=0; while [ $i -lt %d ]; do i=$((i+1)); head -c %d /dev/zero | tr "\\0" x; '
		'echo " chatty-line $i"; sleep 0.02; done' % (LINES, CHUNK))
	return fx.handler_dir(env, "chatty", {
		"common.sh": (common, 0o644),
		"HandlerManifest.json": (json.dumps([{"name": TYPE, "version": 1.0, "handlerManifest": {
			"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
			"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
			"uninstallCommand": "handler.sh uninstall"}}]), 0o644),
		"handler.sh": ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
			       "if [ \"$1\" = enable ]; then\n"
			       "\tsh -c '%s' %s &\n"
			       "\techo $! > \"$here/chatty.pid\"\n"
			       "\twrite_status Enable success 0 \"chatty enabled\"\n"
			       "fi\n"
			       "[ \"$1\" = disable ] && { kill \"$(cat \"$here/chatty.pid\")\" 2>/dev/null || true; }\n"
			       "exit 0\n" % (loop, TAG), 0o755)})


def last_line_no(path):
	"""The number of the daemon's last whole line in the log, 0 if none."""
	try:
		with open(path, "rb") as f:
			f.seek(max(0, os.fstat(f.fileno()).st_size - 2 * CHUNK))
			tail = f.read()
	except OSError:
		return 0
	found = re.findall(rb" chatty-line (\d+)\n", tail)
	return int(found[-1]) if found else 0


def passes(x):
	return len(re.findall(r"goal state \d+: \d+ extensions", x.stderr_text()))


def wait_passes(x, n, what):
	start = passes(x)
	check(poll(lambda: passes(x) >= start + n, timeout=15, interval=0.1),
	      "%s: %d passes, not %d\n%s" % (what, passes(x) - start, n, x.stderr_tail()))


@test(timeout=120)
def daemon_output_is_cut_to_its_end_at_each_pass(env):
	x = env.extmgr
	fx.publish(env, None, "1.0", handler_dir=handler(env), type_name=TYPE)
	v = fx.deploy(env, "chatty", type_name=TYPE)
	fx.wait_status(env, "chatty", v["sequenceNumber"], operation="Enable")
	log = x.own("logs", "%s.%s" % (fx.PUBLISHER, TYPE), "CommandExecution.log")
	check(fx.sleepers(TAG), "the enable started no daemon\n%s" % x.stderr_tail())

	# The daemon writes 6 times the cap; the log stays about it (a pass a second, the daemon
	# writing a few MB a second: never more than 3 times the cap).
	biggest = [0]

	def written():
		biggest[0] = max(biggest[0], os.path.getsize(log))
		return last_line_no(log) >= 250
	check(poll(written, timeout=60, interval=0.1),
	      "the daemon wrote %d lines\n%s" % (last_line_no(log), x.stderr_tail()))
	check(biggest[0] <= 3 * CAP, "the log grew to %d bytes while the daemon wrote %d"
	      % (biggest[0], 250 * CHUNK))
	check(re.search(r"CommandExecution.log: \d+ bytes removed, its last part kept", x.stderr_text()),
	      "extmgr did not say it cut the log\n%s" % x.stderr_tail())

	# The daemon stops; two passes later the log is at most the cap: the marker, then whole
	# lines in order up to the daemon's last, without a hole.
	check(kill_daemon(), "the daemon does not stop")
	last = last_line_no(log)
	wait_passes(x, 2, "after the daemon stopped")
	with open(log, "rb") as f:
		data = f.read()
	st = os.lstat(log)
	check(len(data) <= CAP and st.st_mode & 0o7777 == 0o600, "the log is %d bytes, mode %o" %
	      (len(data), st.st_mode & 0o7777))
	check(b"\0" not in data, "the log has NUL bytes: the writer did not go on at the new end")
	check(data.startswith(b"[extmgr] log cut: "), "the log starts with %r" % data[:80])
	nums = [int(n) for n in re.findall(rb"^x+ chatty-line (\d+)$", data, re.M)]
	check(nums and nums[-1] == last and nums == list(range(nums[0], last + 1)),
	      "lines kept: %r (the daemon's last %d)" % (nums[:3] + ["..."] + nums[-3:], last))
	check(re.match(rb"\[extmgr\] log cut: \d+ bytes of earlier output removed \(past \d+ bytes\)\nx+ chatty-line \d+\n",
		       data), "the log after the cut: %r" % data[:200])

	# A symlink in its place is not followed: the file it names stays as it was.
	target = os.path.join(env.tmp, "not-a-log")
	with open(target, "wb") as f:
		f.write(b"keep me\n" * (CAP // 4))	# 8 MiB, past the cap
	before = os.path.getsize(target)
	os.unlink(log)
	os.symlink(target, log)
	wait_passes(x, 2, "with a symlink for a log")
	check(os.path.getsize(target) == before and open(target, "rb").read(8) == b"keep me\n",
	      "extmgr followed the symlink: %d bytes" % os.path.getsize(target))
	check(re.search(r"CommandExecution.log: .*(symbolic link|not a regular file|Too many levels)",
			x.stderr_text()), "extmgr did not say why it left the log\n%s" % x.stderr_tail())
	os.unlink(log)
	fx.undeploy(env, "chatty")
	fx.wait_gone(env, "chatty")
