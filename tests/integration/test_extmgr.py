"""extmgr end to end: real extensions installed from cloudsim's package store through arcproxy and the gateway.

Expectations:
- The Hello sample's enable runs plain `curl https://echo.cloudsim.test/bytes/N` (no proxy flag):
  it succeeds because extmgr gives every handler HTTPS_PROXY; arcproxy's access log shows the
  tunnel to echo.cloudsim.test on the gateway route; the operator sees success with the message.
- The Token sample gets a managed-identity token through himds's challenge.
- An enable over its time limit is killed with its children, even one that left the process group
  and the session (setsid), and Timeout(N) is reported; a
  handler that writes an error status has it reported with its code.
- An upgrade from 1.0 to 1.1 calls the handlers in the VM agent's order; a failing disable of the
  old version aborts the upgrade (1.0 stays).  The new version's update already finds the old
  one's mrseq and status/ (the VM agent's copy_status_files).  continueOnUpdateFailure passes over
  only the old version's failing disable and uninstall: a failing update of the new version stops
  the upgrade (Update error 1008, FailedUpgrade) and leaves the old version in place.
- A downgrade (1.1 to 1.0) runs, as the VM agent's rollback does, the installed 1.1's own update from
  its directory, told VERSION and AZURE_GUEST_AGENT_UPDATING_FROM_VERSION 1.0; then 1.1's uninstall,
  1.0's install and enable.  When that update fails, the downgrade stops (Update 1008, FailedUpgrade)
  and 1.1 stays.
- The VM agent's variables: install and enable get AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE
  (NOT_RUN, or in an upgrade the old version's uninstall exit code), update gets VERSION and
  AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE (the old version's disable exit code, NOT_RUN if it was
  not enabled); a failing disable and uninstall passed over by continueOnUpdateFailure give theirs.
- Delete runs disable and uninstall and the cloud forgets the extension.  An uninstall that fails
  or passes its time limit is logged and the files are removed anyway (the VM agent's
  handle_uninstall): the delete completes rather than leaving the extension installed.
- extmgr killed with SIGKILL mid-install converges when restarted; nothing is stuck transitioning.
- What the killed pass's handler left running (its shell, a child, a grandchild that called setsid) is
  killed by the restarted extmgr before the step runs again.
- azcmagent extension list shows what is installed; extension remove removes it locally; check
  lists the package host, reached through the gateway.
- A write to <run>/notify/extensions starts a pass between polls; another topic does not; a flood
  of them starts at most one pass a second.
- extmgr killed mid-download resumes the partial file with Range when restarted.
- protectedSettings reach the handler as CMS that the placed <THUMB>.crt/.prv decrypt; they are
  placed in extmgr.conf's certs_dir (as real extensions find them in /var/lib/waagent), made 0700.
- A package made on Windows (zip entries without mode bits) still runs: every unpacked file gets
  u+x, as the VM agent's initialize gives it, so install.sh does not fail with 126.
- While the cloud is unreachable nothing is done, and the goal is applied once it is back; but
  `azcmagent extension remove` works (the operator's own removal needs no cloud).
"""

import base64
import json
import os
import re
import signal
import subprocess
import time
import zipfile

import fx_extmgr as fx
import harness
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


LIMIT = 3	# enable_timeout_seconds and uninstall_timeout_seconds here


def setup():
	# Where HandlerUtil reads <THUMB>.crt/.prv on a real machine: /var/lib/waagent; here a
	# folder of the run's own, which extmgr makes.
	certs = os.path.join(harness.tmp_root(), "waagent-%d" % os.getpid())
	env = fx.extmgr_env(enable_timeout_seconds=LIMIT, uninstall_timeout_seconds=LIMIT,
			    certs_dir=certs)
	env.certs_dir = certs
	return env


def teardown(env):
	return fx.stop_extmgr_env(env)


@test(timeout=60)
def hello_curl_through_the_gateway(env):
	fx.publish(env, "hello", "1.0")
	v = fx.deploy(env, "hello", "hello", settings={"bytes": 4321, "caFile": env.sim.file("ca.crt")})
	v = fx.wait_status(env, "hello", v["sequenceNumber"], operation="Enable")
	s = v["status"]
	check(s["handlerState"] == "Enabled" and "fetched 4321 bytes from https://echo.cloudsim.test/bytes/4321"
	      in s["message"], "hello's report: %r" % s)
	check(poll(lambda: [l for l in env.arcproxy.access_log_lines()
			    if re.search(r" CONNECT echo\.cloudsim\.test:443 gateway 200 ", l)], timeout=5),
	      "no gateway tunnel to echo in the access log: %r" % env.arcproxy.access_log_lines()[-5:])
	check(any("packages.cloudsim.test:443" in l and "gateway" in l for l in env.arcproxy.access_log_lines()),
	      "the package did not come through the gateway")
	x = env.extmgr
	check(x.calls("Hello")[:2] == ["install 1.0 seq=%d" % v["sequenceNumber"], "enable 1.0 seq=%d"
	      % v["sequenceNumber"]], "calls: %r" % x.calls("Hello"))
	check(fx.ext_dirs(x) == ["Cloudsim.Samples.Hello-1.0"], "extension dirs: %r" % fx.ext_dirs(x))
	# azcmagent extension list, both ways.
	r = fx.azcm(env, "extension", "list", "-j")
	check(r.returncode == 0, "extension list -j: %s%s" % (r.stdout, r.stderr))
	rows = {e["name"]: e for e in json.loads(r.stdout)}
	check(rows["hello"]["version"] == "1.0" and rows["hello"]["handlerState"] == "Enabled" and
	      rows["hello"]["lastStatus"]["status"] == "success", "extension list: %r" % rows)
	r = fx.azcm(env, "extension", "list")
	check(re.search(r"^hello\s+Cloudsim\.Samples\.Hello\s+1\.0\s+Enabled\s+Enable success", r.stdout, re.M),
	      "extension list:\n" + r.stdout)
	# Delete: disable, uninstall, and the cloud forgets it.
	fx.undeploy(env, "hello")
	fx.wait_gone(env, "hello")
	check(x.calls("Hello")[-2:] == ["disable 1.0 seq=%d" % v["sequenceNumber"], "uninstall 1.0 seq=%d"
	      % v["sequenceNumber"]], "calls after delete: %r" % x.calls("Hello"))
	check(fx.ext_dirs(x) == [], "extension dirs after delete: %r" % fx.ext_dirs(x))


@test(timeout=60)
def token_through_the_himds_challenge(env):
	fx.publish(env, "token", "1.0")
	v = fx.deploy(env, "token", "token")
	v = fx.wait_status(env, "token", v["sequenceNumber"], operation="Enable")
	check(re.search(r"token for https://management\.azure\.com/: \d+ characters", v["status"]["message"]),
	      "token's report: %r" % v["status"])
	# No usable token in the log folder: the header and the claims, no signature.
	logs = env.extmgr.own("logs", "Cloudsim.Samples.Token")
	check(not os.path.exists(os.path.join(logs, "token.jwt")), "a token in the log folder")
	with open(os.path.join(logs, "token.claims")) as f:
		parts = f.read().split(".")
	check(len(parts) == 2, "not a JWT's header and claims: %r" % parts)
	claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
	check("https://management.azure.com/" in json.dumps(claims), "claims: %r" % claims)
	# Removed locally: disable and uninstall run, and the cloud's goal does not bring it back.
	x = env.extmgr
	r = fx.azcm(env, "extension", "remove", "token")
	check(r.returncode == 0 and "token removed" in r.stdout, "extension remove: %d %s%s"
	      % (r.returncode, r.stdout, r.stderr))
	check(x.calls("Token")[-2:] == ["disable 1.0 seq=%d" % v["sequenceNumber"],
	      "uninstall 1.0 seq=%d" % v["sequenceNumber"]], "calls: %r" % x.calls("Token"))
	check(not any(d.startswith("Cloudsim.Samples.Token-") for d in fx.ext_dirs(x)), "dirs: %r" % fx.ext_dirs(x))
	time.sleep(2.5)	# two polls
	check(x.record("token")["version"] is None and x.calls("Token")[-1].startswith("uninstall"),
	      "reinstalled after a local removal: %r %r" % (x.record("token"), x.calls("Token")))
	fails = fx.azcm(env, "extension", "remove", "nosuch")
	check(fails.returncode != 0 and "no extension nosuch" in fails.stderr, "remove nosuch: %r" % fails.stderr)
	fx.undeploy(env, "token")
	fx.wait_gone(env, "token")


@test(timeout=60)
def enable_over_its_limit_is_killed_whole(env):
	fx.publish(env, "slow", "1.0")
	tag = "617"
	started = time.time()
	escaped = "618"		# a grandchild that left the group and the session (setsid -f)
	v = fx.deploy(env, "slow", "slow", settings={"seconds": tag, "escape": escaped})
	v = fx.wait_status(env, "slow", v["sequenceNumber"], status=("error",), operation="Enable")
	s = v["status"]
	check(s["code"] == 1011 and "Timeout(%d)" % LIMIT in s["message"] and "sleeping 617 s" in s["message"],
	      "slow's report: %r" % s)
	check(time.time() - started < LIMIT + 15, "the timeout took %.1fs" % (time.time() - started))
	check(poll(lambda: not fx.sleepers("sleep " + tag), timeout=3), "the enable's children survived: %r"
	      % fx.sleepers("sleep " + tag))
	check(poll(lambda: not fx.sleepers("sleep " + escaped), timeout=3), "a daemon that called setsid escaped "
	      "the time limit: %r" % fx.sleepers("sleep " + escaped))
	fx.undeploy(env, "slow")
	fx.wait_gone(env, "slow")


@test(timeout=60)
def error_status_is_reported(env):
	fx.publish(env, "failing", "1.0")
	v = fx.deploy(env, "failing", "failing", settings={"reason": "disk full"})
	v = fx.wait_status(env, "failing", v["sequenceNumber"], status=("error",), operation="Enable")
	s = v["status"]
	check(s["code"] == 42 and "fails on purpose: disk full" in s["message"], "failing's report: %r" % s)
	fx.undeploy(env, "failing")
	fx.wait_gone(env, "failing")


@test(timeout=90)
def upgrade_in_order_and_a_failing_disable(env):
	x = env.extmgr
	fx.publish(env, "hello", "1.0")
	fx.publish(env, "hello", "1.1")
	ca = env.sim.file("ca.crt")
	v = fx.deploy(env, "upg", "hello", settings={"bytes": 10, "caFile": ca})
	fx.wait_status(env, "upg", v["sequenceNumber"], operation="Enable")
	before = len(x.calls("Hello"))
	s0 = v["sequenceNumber"]
	v = fx.deploy(env, "upg", "hello", version="1.1", settings={"bytes": 11, "caFile": ca})
	s1 = v["sequenceNumber"]
	v = fx.wait_status(env, "upg", s1, operation="Enable")
	check(v["status"]["version"] == "1.1", "report: %r" % v["status"])
	want = ["disable 1.0 seq=%d" % s0, "update 1.1 seq=%d from=1.0" % s1, "uninstall 1.0 seq=%d" % s0,
		"install 1.1 seq=%d" % s1, "enable 1.1 seq=%d" % s1]
	check(x.calls("Hello")[before:] == want, "upgrade calls: %r, want %r" % (x.calls("Hello")[before:], want))
	check(fx.ext_dirs(x) == ["Cloudsim.Samples.Hello-1.1"], "dirs: %r" % fx.ext_dirs(x))
	# Back to 1.0 with failDisable set, then 1.1 again: 1.0's disable fails and the upgrade stops.
	v = fx.deploy(env, "upg", "hello", version="1.0", settings={"bytes": 12, "caFile": ca, "failDisable": True})
	fx.wait_status(env, "upg", v["sequenceNumber"], operation="Enable")
	before = len(x.calls("Hello"))
	v = fx.deploy(env, "upg", "hello", version="1.1", settings={"bytes": 13, "caFile": ca})
	v = fx.wait_status(env, "upg", v["sequenceNumber"], status=("error",))
	s = v["status"]
	check(s["code"] == 1010 and re.search(r"upgrade to 1\.1 aborted: disable of 1\.0 failed", s["message"]) and
	      "failDisable" in s["message"], "aborted upgrade's report: %r" % s)
	check(x.calls("Hello")[before:] == ["disable 1.0 seq=%d" % (v["sequenceNumber"] - 1)],
	      "calls of the aborted upgrade: %r" % x.calls("Hello")[before:])
	check(fx.ext_dirs(x) == ["Cloudsim.Samples.Hello-1.0"] and x.record("upg")["version"] == "1.0",
	      "after the aborted upgrade: %r %r" % (fx.ext_dirs(x), x.record("upg")))
	fx.undeploy(env, "upg")
	fx.wait_gone(env, "upg")
	check(fx.ext_dirs(x) == [], "dirs after delete: %r" % fx.ext_dirs(x))


@test(timeout=90)
def sigkill_mid_install_converges(env):
	x = env.extmgr
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	d = fx.handler_dir(env, "crash", {
		"common.sh": (common, 0o644),
		"HandlerManifest.json": (json.dumps([{"name": "Crash", "version": 1.0, "handlerManifest": {
			"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
			"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
			"uninstallCommand": "handler.sh uninstall"}}]), 0o644),
		"handler.sh": ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
			       "[ \"$1\" = install ] && sleep 2.5\n"
			       "[ \"$1\" = enable ] && write_status Enable success 0 \"crash sample enabled\"\n"
			       "exit 0\n", 0o755)})
	fx.publish(env, None, "1.0", handler_dir=d, type_name="Crash")
	v = fx.deploy(env, "crash", type_name="Crash")
	check(poll(lambda: x.calls("Crash") == ["install 1.0 seq=%d" % v["sequenceNumber"]], timeout=20,
		   interval=0.05), "install did not start: %r\n%s" % (x.calls("Crash"), x.stderr_tail()))
	x.proc.kill()
	x.proc.wait(5)
	rec = x.record("crash")
	check(rec and rec["step"] == "Install" and rec["handlerState"] == "NotInstalled",
	      "state when killed: %r" % rec)
	x.start()
	v = fx.wait_status(env, "crash", v["sequenceNumber"], operation="Enable")
	seq = v["sequenceNumber"]
	check(x.calls("Crash") == ["install 1.0 seq=%d" % seq, "install 1.0 seq=%d" % seq, "enable 1.0 seq=%d" % seq],
	      "calls after the restart: %r" % x.calls("Crash"))
	rec = x.record("crash")
	check(rec["handlerState"] == "Enabled" and rec["step"] == "" and rec["report"]["status"] == "success",
	      "state after the restart: %r" % rec)
	check(not [n for n in os.listdir(x.own("extensions")) if n.startswith(".unpack-")] and
	      not os.listdir(x.own("downloads")), "leftovers: %r %r" % (os.listdir(x.own("extensions")),
								 os.listdir(x.own("downloads"))))
	fx.undeploy(env, "crash")
	fx.wait_gone(env, "crash")


@test(timeout=90)
def sigkill_mid_install_stops_what_the_dead_pass_left(env):
	# The pass dies with extmgr (SIGKILL) while install runs; the handler's shell, its child and a
	# grandchild that called setsid run on.  The restarted extmgr kills them (the run's record in
	# <state>/extmgr/runs/) before it runs install again, not alongside them.
	x = env.extmgr
	t = 3000000 + (os.getpid() % 100000) * 10
	tags = ["sleep %d" % (t + i) for i in range(3)]
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	d = fx.handler_dir(env, "orphan", {
		"common.sh": (common, 0o644),
		"HandlerManifest.json": (json.dumps([{"name": "Orphan", "version": 1.0, "handlerManifest": {
			"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
			"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
			"uninstallCommand": "handler.sh uninstall"}}]), 0o644),
		"handler.sh": ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
			       "if [ \"$1\" = install ] && [ ! -e \"$log_dir/once\" ]; then\n"
			       "  : > \"$log_dir/once\"\n  sleep %d &\n  setsid sleep %d &\n  sleep %d\nfi\n"
			       "[ \"$1\" = enable ] && write_status Enable success 0 \"orphan enabled\"\n"
			       "exit 0\n" % (t + 1, t + 2, t), 0o755)})
	try:
		fx.publish(env, None, "1.0", handler_dir=d, type_name="Orphan")
		v = fx.deploy(env, "orphan", type_name="Orphan")
		check(poll(lambda: all(fx.sleepers(g) for g in tags), timeout=20, interval=0.05),
		      "install did not start its sleepers: %r\n%s" % (x.calls("Orphan"), x.stderr_tail()))
		runs = x.own("runs")
		check(os.path.isdir(runs) and os.listdir(runs) == ["Cloudsim.Samples.Orphan"],
		      "no record of the run: %r" % (os.listdir(runs) if os.path.isdir(runs) else None))
		x.proc.kill()
		x.proc.wait(5)
		time.sleep(0.5)
		check(all(fx.sleepers(g) for g in tags), "the handler died with extmgr: nothing to test")
		x.start()
		v = fx.wait_status(env, "orphan", v["sequenceNumber"], operation="Enable")
		seq = v["sequenceNumber"]
		left = [(g, fx.sleepers(g)) for g in tags if fx.sleepers(g)]
		check(not left, "the dead pass's handler runs on beside the new one: %r" % left)
		check(x.calls("Orphan") == ["install 1.0 seq=%d" % seq] * 2 + ["enable 1.0 seq=%d" % seq],
		      "calls after the restart: %r" % x.calls("Orphan"))
		check(re.search(r"Cloudsim\.Samples\.Orphan: a run left running by an extmgr that stopped "
				r"\(process group \d+\) killed", x.stderr_text()), "not logged\n" + x.stderr_tail())
		check(os.listdir(runs) == [], "records left: %r" % os.listdir(runs))
		fx.undeploy(env, "orphan")
		fx.wait_gone(env, "orphan")
	finally:
		for g in tags:
			for pid in fx.sleepers(g):
				try:
					os.kill(pid, signal.SIGKILL)
				except OSError:
					pass


def passes(x):
	return len(re.findall(r"goal state \d+: \d+ extensions", x.stderr_text()))


@test(timeout=60)
def notify_wakes_it_between_polls(env):
	x = env.extmgr
	notify = os.path.join(x.run_dir, "notify")
	os.makedirs(notify, exist_ok=True)
	x.settings["poll_seconds"] = 300
	x.write_config()
	try:
		n = passes(x)
		x.reload()	# reads poll_seconds 300; the pass it starts watches notify/
		check(poll(lambda: passes(x) >= n + 1, timeout=10), "no pass after SIGHUP\n" + x.stderr_tail())
		check(poll(lambda: "watching %s" % notify in x.stderr_text(), timeout=5), "notify/ is not watched")
		time.sleep(1.5)
		n = passes(x)
		check(passes(x) == n, "a pass came without a reason")
		with open(os.path.join(notify, "extensions.tmp"), "w") as f:
			f.write("12\n")
		os.rename(os.path.join(notify, "extensions.tmp"), os.path.join(notify, "extensions"))
		check(poll(lambda: passes(x) >= n + 1, timeout=3), "the wake-up did not start a pass")
		# Another topic is not ours.
		time.sleep(1.0)
		n = passes(x)
		with open(os.path.join(notify, "guestConfiguration"), "w") as f:
			f.write("3\n")
		time.sleep(1.5)
		check(passes(x) == n, "guestConfiguration woke extmgr")
		# A flood of wake-ups (the notify dir is another user's) is a hint, not a command: at most one
		# pass a second.
		n = passes(x)
		t0 = time.monotonic()
		while time.monotonic() - t0 < 3.0:
			with open(os.path.join(notify, "extensions"), "w") as f:
				f.write("13\n")
			time.sleep(0.01)
		time.sleep(1.2)
		check(n + 1 <= passes(x) <= n + 5, "%d passes for 3 s of wake-ups" % (passes(x) - n))
	finally:
		x.settings["poll_seconds"] = 1
		x.write_config()
		x.reload()


@test(timeout=120)
def sigkill_mid_download_resumes(env):
	x = env.extmgr
	d = fx.handler_dir(env, "bigdl", {
		"HandlerManifest.json": (json.dumps([{"name": "BigDl", "version": 1.0, "handlerManifest": {
			"installCommand": "true", "enableCommand": "mkdir -p status && echo '[{\"version\":1.0,"
			"\"status\":{\"status\":\"success\",\"code\":0,\"formattedMessage\":{\"message\":\"big\"}}}]' "
			"> status/$ConfigSequenceNumber.status", "updateCommand": "true", "disableCommand": "true",
			"uninstallCommand": "true"}}]), 0o644)})
	with open(os.path.join(d, "payload.bin"), "wb") as f:
		for _ in range(96):
			f.write(os.urandom(1 << 20))
	fname = fx.publish(env, None, "1.0", handler_dir=d, type_name="BigDl")
	part = x.own("downloads", fname + ".part")
	v = fx.deploy(env, "bigdl", type_name="BigDl")
	check(poll(lambda: os.path.exists(part) and os.path.getsize(part) > (4 << 20), timeout=30, interval=0.02),
	      "the download did not start\n" + x.stderr_tail())
	x.proc.kill()
	x.proc.wait(5)
	have = os.path.getsize(part)
	check(have < os.path.getsize(fx.package_path(env, fname)), "the download had finished: %d" % have)
	x.start()
	fx.wait_status(env, "bigdl", v["sequenceNumber"], operation="Enable", timeout=90)
	m = re.search(r"%s: resumed at byte (\d+)" % re.escape(fname), x.stderr_text())
	check(m and int(m.group(1)) >= have, "no resume from byte %d in the log\n%s" % (have, x.stderr_tail()))
	check(not os.path.exists(part), "the partial file is left")
	fx.undeploy(env, "bigdl")
	fx.wait_gone(env, "bigdl")


@test(timeout=60)
def azcmagent_check_lists_the_package_host(env):
	p = env.arcproxy
	r = subprocess.run([str(fx.AZCMAGENT), "check", "-j", "--config-dir", p.conf_dir, "--state-dir", env.state_dir,
			    "--proxy", "http://127.0.0.1:%d" % p.port], capture_output=True, text=True, timeout=60)
	rows = {e["kind"]: e for e in json.loads(r.stdout)["endpoints"]}
	pk = rows.get("packages")
	check(pk and pk["endpoint"] == "https://packages.cloudsim.test/" and pk["reachable"] and
	      pk["route"] == "gateway", "check's package row: %r\n%s" % (rows, r.stderr))


@test(timeout=60)
def protected_settings_reach_the_handler_encrypted(env):
	x = env.extmgr
	fx.publish(env, "hello", "1.0")
	v = fx.deploy(env, "prot", "hello", settings={"bytes": 7, "caFile": env.sim.file("ca.crt")},
		      protected={"password": "s3cr3t-%d" % os.getpid()})
	v = fx.wait_status(env, "prot", v["sequenceNumber"], operation="Enable")
	path = x.own("extensions", "Cloudsim.Samples.Hello-1.0", "config", "%d.settings" % v["sequenceNumber"])
	with open(path) as f:
		text = f.read()
	check("s3cr3t" not in text, "protected settings in clear in %s" % path)
	h = json.loads(text)["runtimeSettings"][0]["handlerSettings"]
	thumb = h["protectedSettingsCertThumbprint"]
	der = os.path.join(env.tmp, "prot.der")
	with open(der, "wb") as f:
		f.write(base64.b64decode(h["protectedSettings"]))
	certs = env.certs_dir
	check(oct(os.stat(certs).st_mode & 0o777) == "0o700", "certs_dir's mode")
	check(not os.path.exists(x.own("certs")), "certificates placed in the state dir too")
	r = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", der, "-recip",
			    os.path.join(certs, thumb + ".crt"), "-inkey", os.path.join(certs, thumb + ".prv")],
			   capture_output=True, text=True)
	check(r.returncode == 0 and json.loads(r.stdout) == {"password": "s3cr3t-%d" % os.getpid()},
	      "decrypting with the placed certificate: %s %s" % (r.stdout, r.stderr))
	check(oct(os.stat(os.path.join(certs, thumb + ".prv")).st_mode & 0o777) == "0o600", "the key's mode")
	# The settings key is extmgr's own, not the machine's identity key.
	with open(x.own("settings.key")) as f, open(os.path.join(env.state_dir, "himds", "machine.key")) as g:
		check(f.read() != g.read(), "the settings key is the machine key")
	fx.undeploy(env, "prot")
	fx.wait_gone(env, "prot")


@test(timeout=90)
def local_remove_works_while_the_cloud_is_unreachable(env):
	x, p = env.extmgr, env.arcproxy
	fx.publish(env, "hello", "1.0")
	v = fx.deploy(env, "offline", "hello", settings={"bytes": 8, "caFile": env.sim.file("ca.crt")})
	fx.wait_status(env, "offline", v["sequenceNumber"], operation="Enable")
	calls = len(x.calls("Hello"))
	p.stop()
	try:
		r = fx.azcm(env, "extension", "remove", "offline", timeout=60)
		check(r.returncode == 0 and "offline removed" in r.stdout, "extension remove with the cloud away: "
		      "%d %s%s" % (r.returncode, r.stdout, r.stderr))
		check([c.split()[0] for c in x.calls("Hello")[calls:]] == ["disable", "uninstall"] and
		      fx.ext_dirs(x) == [], "local remove offline: %r %r" % (x.calls("Hello")[calls:], fx.ext_dirs(x)))
	finally:
		p.start()
	# Back online, the same goal does not bring it back.
	n = len(x.calls("Hello"))
	seen = len(re.findall(r"goal state \d+: \d+ extensions", x.stderr_text()))
	check(poll(lambda: len(re.findall(r"goal state \d+: \d+ extensions", x.stderr_text())) >= seen + 2,
		   timeout=20), "no two passes after the cloud came back\n" + x.stderr_tail())
	check(len(x.calls("Hello")) == n and fx.ext_dirs(x) == [], "reinstalled: %r" % x.calls("Hello")[n:])
	fx.undeploy(env, "offline")
	fx.wait_gone(env, "offline")


@test(timeout=90)
def waits_while_the_cloud_is_unreachable(env):
	x, p = env.extmgr, env.arcproxy
	fx.publish(env, "hello", "1.0")
	p.stop()
	try:
		v = fx.deploy(env, "later", "hello", settings={"bytes": 9, "caFile": env.sim.file("ca.crt")})
		check(x.log_has(r"the cloud did not answer: trying again in 5 s", timeout=20),
		      "extmgr did not notice the cloud was unreachable\n" + x.stderr_tail())
		check(x.record("later") is None, "it acted on a goal it could not have fetched: %r" % x.record("later"))
	finally:
		p.start()
	v = fx.wait_status(env, "later", v["sequenceNumber"], operation="Enable", timeout=40)
	check("fetched 9 bytes" in v["status"]["message"], "after the cloud came back: %r" % v["status"])
	fx.undeploy(env, "later")
	fx.wait_gone(env, "later")


@test(timeout=60)
def package_without_mode_bits_runs(env):
	# As a zip made on Windows: created by MS-DOS, no Unix mode in any entry.
	x = env.extmgr
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	manifest = json.dumps([{"name": "NoMode", "version": 1.0, "handlerManifest": {
		"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
		"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
		"uninstallCommand": "handler.sh uninstall"}}])
	script = ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
		  "[ \"$1\" = enable ] && write_status Enable success 0 \"no mode bits, still ran\"\nexit 0\n")
	z = fx.package_path(env, "%s.NoMode-1.0.zip" % fx.PUBLISHER)
	with zipfile.ZipFile(z, "w") as zf:
		for name, data in (("HandlerManifest.json", manifest), ("handler.sh", script),
				   ("common.sh", common)):
			info = zipfile.ZipInfo(name)
			info.create_system = 0
			info.external_attr = 0
			zf.writestr(info, data)
	fx.sign_as(env, z, fx.PUBLISHER, "NoMode")
	fx.catalog(env, fx.PUBLISHER, "NoMode", "1.0", z)
	v = fx.deploy(env, "nomode", type_name="NoMode")
	seq = v["sequenceNumber"]

	def settled():
		s = (fx.view(env, "nomode") or {}).get("status") or {}
		return s if s.get("sequenceNumber") == seq and (s.get("status") == "error" or
			   (s.get("operation"), s.get("status")) == ("Enable", "success")) else None
	s = poll(settled, timeout=30, interval=0.2)
	check(s and s["status"] == "success" and "no mode bits, still ran" in s["message"],
	      "report: %r\n%s" % (s, x.stderr_tail(20)))
	check(x.calls("NoMode") == ["install 1.0 seq=%d" % seq, "enable 1.0 seq=%d" % seq],
	      "calls: %r" % x.calls("NoMode"))
	d = x.own("extensions", "%s.NoMode-1.0" % fx.PUBLISHER)
	for n in ("handler.sh", "common.sh", "HandlerManifest.json"):
		check(os.stat(os.path.join(d, n)).st_mode & 0o100, "%s has no u+x: %o" % (n, os.stat(os.path.join(d, n)).st_mode))
	fx.undeploy(env, "nomode")
	fx.wait_gone(env, "nomode")


def stuck_uninstall_dir(env):
	"""A handler whose uninstall does what the setting uninstall says: fail (exit 3) or hang."""
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	return fx.handler_dir(env, "stuck", {
		"common.sh": (common, 0o644),
		"HandlerManifest.json": (json.dumps([{"name": "Stuck", "version": 1.0, "handlerManifest": {
			"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
			"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
			"uninstallCommand": "handler.sh uninstall"}}]), 0o644),
		"handler.sh": ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
			       "[ \"$1\" = enable ] && write_status Enable success 0 \"stuck enabled\"\n"
			       "if [ \"$1\" = uninstall ]; then\n"
			       "  case $(setting uninstall) in\n"
			       "  fail) echo 'cannot uninstall: on purpose' >&2; exit 3;;\n"
			       "  hang) sleep $(setting seconds 600);;\n"
			       "  esac\nfi\nexit 0\n", 0o755)})


@test(timeout=90)
def failing_or_hanging_uninstall_still_deletes(env):
	x = env.extmgr
	fx.publish(env, None, "1.0", handler_dir=stuck_uninstall_dir(env), type_name="Stuck")
	for mode, why in (("fail", r"exit 3.*cannot uninstall: on purpose"), ("hang", r"Timeout\(%d\)" % LIMIT)):
		ext = "stuck-" + mode
		v = fx.deploy(env, ext, type_name="Stuck", settings={"uninstall": mode, "seconds": "619"})
		seq = fx.wait_status(env, ext, v["sequenceNumber"], operation="Enable")["sequenceNumber"]
		fx.undeploy(env, ext)
		fx.wait_gone(env, ext, timeout=30)
		check(x.calls("Stuck")[-2:] == ["disable 1.0 seq=%d" % seq, "uninstall 1.0 seq=%d" % seq],
		      "calls: %r" % x.calls("Stuck"))
		check(not [d for d in fx.ext_dirs(x) if d.startswith("Cloudsim.Samples.Stuck-")],
		      "%s: files left: %r" % (ext, fx.ext_dirs(x)))
		check(re.search(r"%s: uninstall failed, removed anyway: .*%s" % (ext, why), x.stderr_text()),
		      "%s: the uninstall failure is not logged\n%s" % (ext, x.stderr_tail(20)))
		check(poll(lambda: x.record(ext) is None, timeout=5), "%s: still recorded: %r" % (ext, x.record(ext)))
	check(poll(lambda: not fx.sleepers("sleep 619"), timeout=3), "the hanging uninstall survived")


def proto_dir(env, name):
	"""A handler that writes mrseq on enable, logs to proto.log what each command finds (mrseq, status/,
	the directory it runs from, the protocol's variables), and exits 3, 4 or 5 from update, disable or
	uninstall when its settings say failUpdate, failDisable or failUninstall (update also when a file
	fail-update is in its directory: a downgrade runs the installed version's update, which has no
	settings of the new sequence number); continueOnUpdateFailure is true."""
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	return fx.handler_dir(env, name, {
		"common.sh": (common, 0o644),
		"HandlerManifest.json": (json.dumps([{"name": "Proto", "version": 1.0, "handlerManifest": {
			"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
			"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
			"uninstallCommand": "handler.sh uninstall", "continueOnUpdateFailure": True}}]), 0o644),
		"handler.sh": ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
			       "echo \"$1 $version mrseq=$(cat \"$here/mrseq\" 2>/dev/null)"
			       " status=$(ls \"$status_dir\" | tr '\\n' ,) dir=$(basename \"$here\") VERSION=${VERSION-unset}"
			       " disable=${AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE-unset}"
			       " uninstall=${AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE-unset}\" >> \"$log_dir/proto.log\"\n"
			       "case $1 in\n"
			       "enable) echo \"$seq\" > \"$here/mrseq\"; write_status Enable success 0 \"proto $version\";;\n"
			       "update) { [ \"$(setting failUpdate false)\" = true ] || [ -e \"$here/fail-update\" ]; } &&"
			       " { echo 'update refused' >&2; exit 3; };;\n"
			       "disable) [ \"$(setting failDisable false)\" = true ] && exit 4;;\n"
			       "uninstall) [ \"$(setting failUninstall false)\" = true ] && exit 5;;\n"
			       "esac\nexit 0\n", 0o755)})


def proto_log(x):
	try:
		with open(x.own("logs", "%s.Proto" % fx.PUBLISHER, "proto.log")) as f:
			return f.read().split("\n")[:-1]
	except OSError:
		return []


def proto_publish(env):
	for version in ("1.0", "1.1"):
		fx.publish(env, None, version, handler_dir=proto_dir(env, "proto-" + version), type_name="Proto")


@test(timeout=90)
def upgrade_copies_mrseq_and_status_before_update(env):
	x = env.extmgr
	proto_publish(env)
	v = fx.deploy(env, "proto", type_name="Proto", version="1.0")
	s0 = fx.wait_status(env, "proto", v["sequenceNumber"], operation="Enable")["sequenceNumber"]
	n = len(proto_log(x))
	v = fx.deploy(env, "proto", type_name="Proto", version="1.1")
	v = fx.wait_status(env, "proto", v["sequenceNumber"], operation="Enable")
	check(v["status"]["version"] == "1.1", "report: %r" % v["status"])
	update = [l for l in proto_log(x)[n:] if l.startswith("update ")]
	check(len(update) == 1 and update[0].startswith("update 1.1 mrseq=%d status=%d.status, " % (s0, s0)),
	      "what update found: %r" % proto_log(x)[n:])
	fx.undeploy(env, "proto")
	fx.wait_gone(env, "proto")


def _kept_after_failed_change(env, name, version):
	"""After a failed change of version: the installed version recorded as FailedUpgrade, only its
	tree left; then a delete removes it all."""
	x = env.extmgr
	rec = x.record(name)
	check(rec["version"] == version and rec["handlerState"] == "FailedUpgrade", "record: %r" % rec)
	check([d for d in fx.ext_dirs(x) if "Proto" in d] == ["Cloudsim.Samples.Proto-" + version],
	      "dirs: %r" % fx.ext_dirs(x))
	fx.undeploy(env, name)
	fx.wait_gone(env, name)
	check(not [d for d in fx.ext_dirs(x) if "Proto" in d], "dirs after delete: %r" % fx.ext_dirs(x))


@test(timeout=90)
def failed_update_aborts_despite_continue_on_update_failure(env):
	x = env.extmgr
	proto_publish(env)
	v = fx.deploy(env, "protofail", type_name="Proto", version="1.0")
	s0 = fx.wait_status(env, "protofail", v["sequenceNumber"], operation="Enable")["sequenceNumber"]
	n = len(x.calls("Proto"))
	v = fx.deploy(env, "protofail", type_name="Proto", version="1.1", settings={"failUpdate": True})
	s1 = v["sequenceNumber"]
	v = fx.wait_status(env, "protofail", s1, status=("error",), operation="Update")
	s = v["status"]
	check(s["code"] == 1008 and "exit 3" in s["message"] and "update refused" in s["message"] and
	      s["handlerState"] == "FailedUpgrade", "failed update's report: %r" % s)
	time.sleep(2.5)		# two polls: nothing more runs for this goal
	check(x.calls("Proto")[n:] == ["disable 1.0 seq=%d" % s0, "update 1.1 seq=%d from=1.0" % s1],
	      "calls of the failed upgrade: %r" % x.calls("Proto")[n:])
	_kept_after_failed_change(env, "protofail", "1.0")


@test(timeout=120)
def protocol_variables_in_an_upgrade(env):
	x = env.extmgr
	proto_publish(env)

	def runs(n):
		return [" ".join(w for w in l.split() if not w.startswith(("mrseq=", "status=", "dir=")))
			for l in proto_log(x)[n:]]
	n = len(proto_log(x))
	v = fx.deploy(env, "protoenv", type_name="Proto", version="1.0")
	fx.wait_status(env, "protoenv", v["sequenceNumber"], operation="Enable")
	want = ["install 1.0 VERSION=unset disable=unset uninstall=NOT_RUN",
		"enable 1.0 VERSION=unset disable=unset uninstall=NOT_RUN"]
	check(runs(n) == want, "install and enable: %r, want %r" % (runs(n), want))
	n = len(proto_log(x))
	v = fx.deploy(env, "protoenv", type_name="Proto", version="1.1")
	fx.wait_status(env, "protoenv", v["sequenceNumber"], operation="Enable")
	want = ["disable 1.0 VERSION=unset disable=unset uninstall=unset",
		"update 1.1 VERSION=1.1 disable=0 uninstall=unset",
		"uninstall 1.0 VERSION=unset disable=unset uninstall=unset",
		"install 1.1 VERSION=unset disable=unset uninstall=0",
		"enable 1.1 VERSION=unset disable=unset uninstall=0"]
	check(runs(n) == want, "upgrade: %r, want %r" % (runs(n), want))
	# Back to 1.0 whose disable and uninstall fail (4, 5): continueOnUpdateFailure passes over them,
	# and the new version is told their exit codes.
	v = fx.deploy(env, "protoenv", type_name="Proto", version="1.0",
		      settings={"failDisable": True, "failUninstall": True})
	fx.wait_status(env, "protoenv", v["sequenceNumber"], operation="Enable")
	n = len(proto_log(x))
	v = fx.deploy(env, "protoenv", type_name="Proto", version="1.1")
	v = fx.wait_status(env, "protoenv", v["sequenceNumber"], operation="Enable")
	check(v["status"]["version"] == "1.1", "report: %r" % v["status"])
	want = ["disable 1.0 VERSION=unset disable=unset uninstall=unset",
		"update 1.1 VERSION=1.1 disable=4 uninstall=unset",
		"uninstall 1.0 VERSION=unset disable=unset uninstall=unset",
		"install 1.1 VERSION=unset disable=unset uninstall=5",
		"enable 1.1 VERSION=unset disable=unset uninstall=5"]
	check(runs(n) == want, "upgrade past failures: %r, want %r" % (runs(n), want))
	check(re.search(r"disable of 1\.0 failed, going on \(continueOnUpdateFailure\): exit 4", x.stderr_text()) and
	      re.search(r"uninstall of 1\.0 failed, going on \(continueOnUpdateFailure\): exit 5", x.stderr_text()),
	      "the failures passed over are not logged\n" + x.stderr_tail(20))
	# A new configuration's enable: no uninstall ran.
	n = len(proto_log(x))
	v = fx.deploy(env, "protoenv", type_name="Proto", version="1.1", settings={"again": 1})
	fx.wait_status(env, "protoenv", v["sequenceNumber"], operation="Enable")
	check(runs(n) == ["enable 1.1 VERSION=unset disable=unset uninstall=NOT_RUN"], "reconfigure: %r" % runs(n))
	fx.undeploy(env, "protoenv")
	fx.wait_gone(env, "protoenv")


@test(timeout=120)
def downgrade_runs_the_installed_versions_update(env):
	x = env.extmgr
	proto_publish(env)
	v = fx.deploy(env, "protodown", type_name="Proto", version="1.1")
	s0 = fx.wait_status(env, "protodown", v["sequenceNumber"], operation="Enable")["sequenceNumber"]
	n, m = len(x.calls("Proto")), len(proto_log(x))
	v = fx.deploy(env, "protodown", type_name="Proto", version="1.0")
	s1 = v["sequenceNumber"]
	v = fx.wait_status(env, "protodown", s1, operation="Enable")
	check(v["status"]["version"] == "1.0", "report: %r" % v["status"])
	# 1.1's own update, from its directory, told VERSION and UPDATING_FROM_VERSION 1.0 (the VM
	# agent gives the version rolled back to as both).
	want = ["disable 1.1 seq=%d" % s0, "update 1.1 seq=%d from=1.0" % s1, "uninstall 1.1 seq=%d" % s0,
		"install 1.0 seq=%d" % s1, "enable 1.0 seq=%d" % s1]
	check(x.calls("Proto")[n:] == want, "downgrade calls: %r, want %r" % (x.calls("Proto")[n:], want))
	update = [l for l in proto_log(x)[m:] if l.startswith("update ")]
	check(len(update) == 1 and "dir=Cloudsim.Samples.Proto-1.1 VERSION=1.0 disable=0 " in update[0],
	      "what the downgrade's update found: %r" % proto_log(x)[m:])
	check([d for d in fx.ext_dirs(x) if "Proto" in d] == ["Cloudsim.Samples.Proto-1.0"],
	      "dirs: %r" % fx.ext_dirs(x))
	# Up to 1.1 and down again, 1.1's update failing: the downgrade stops there (Update 1008,
	# FailedUpgrade), 1.1 stays installed and 1.0's tree goes; 1.0's update never ran.
	v = fx.deploy(env, "protodown", type_name="Proto", version="1.1")
	s2 = fx.wait_status(env, "protodown", v["sequenceNumber"], operation="Enable")["sequenceNumber"]
	with open(x.own("extensions", "Cloudsim.Samples.Proto-1.1", "fail-update"), "w"):
		pass
	n = len(x.calls("Proto"))
	v = fx.deploy(env, "protodown", type_name="Proto", version="1.0")
	s3 = v["sequenceNumber"]
	v = fx.wait_status(env, "protodown", s3, status=("error",), operation="Update")
	s = v["status"]
	check(s["code"] == 1008 and s["message"].startswith("downgrade to 1.0: the update of 1.1 failed: exit 3") and
	      "update refused" in s["message"] and s["handlerState"] == "FailedUpgrade",
	      "failed downgrade's report: %r" % s)
	check(x.calls("Proto")[n:] == ["disable 1.1 seq=%d" % s2, "update 1.1 seq=%d from=1.0" % s3],
	      "calls of the failed downgrade: %r" % x.calls("Proto")[n:])
	_kept_after_failed_change(env, "protodown", "1.1")
