"""test_extmgr_status.py -- an enabled extension's status and heartbeat are read again at every pass, as the VM agent's report_ext_handler_status reads them, and the cloud hears of a change without a new goal state.

Expectations (extmgr polling every second, heartbeat_stale_seconds = STALE):
- An extension whose status/<seq>.status changes after its enable (success, then error with a
  code, then success with another message, then a substatus) has each change reported to the
  cloud at the same sequence number; its enable does not run again.
- While nothing changes, nothing is sent: the cloud's statusTime stays as it was pass after pass.
- A reportHeartbeat extension's heartbeat is the report's "heartbeat" substatus: its status and
  message while the file is fresh; once the file is older than STALE seconds, "Unresponsive",
  code -1, "Extension heartbeat is not responsive" (the VM agent's collect_heartbeat); when the
  extension writes it again, its own status and message again.
"""

import json
import os
import time

import fx_extmgr as fx
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

STALE = 4	# heartbeat_stale_seconds here


def setup():
	return fx.extmgr_env(heartbeat_stale_seconds=STALE)


def teardown(env):
	return fx.stop_extmgr_env(env)


def handler(env, name, type_name, heartbeat):
	"""A handler whose enable writes a success status (and, with heartbeat, heartbeat.log)."""
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	beat = ""
	if heartbeat:
		beat = ("\thb=$(json_field \"$env_file\" heartbeatFile)\n"
			"\tprintf '[{\"version\":1.0,\"heartbeat\":{\"status\":\"ready\",\"code\":0,"
			"\"formattedMessage\":{\"lang\":\"en-US\",\"message\":\"beating\"}}}]' > \"$hb\"\n")
	return fx.handler_dir(env, name, {
		"common.sh": (common, 0o644),
		"HandlerManifest.json": (json.dumps([{"name": type_name, "version": 1.0, "handlerManifest": {
			"installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
			"updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
			"uninstallCommand": "handler.sh uninstall", "reportHeartbeat": heartbeat}}]), 0o644),
		"handler.sh": ("#!/bin/sh\n. \"$(dirname \"$0\")/common.sh\"\nlog_call \"$1\"\n"
			       "if [ \"$1\" = enable ]; then\n"
			       "%s"
			       "\twrite_status Enable success 0 \"enabled\"\n"
			       "fi\n"
			       "exit 0\n" % beat, 0o755)})


def write_json(path, doc):
	"""As a handler writes its files: whole, by a rename."""
	with open(path + ".tmp", "w") as f:
		json.dump(doc, f)
	os.rename(path + ".tmp", path)


def status_doc(status, code, message, substatus=None):
	s = {"name": "Moody", "operation": "Enable", "status": status, "code": code,
	     "formattedMessage": {"lang": "en-US", "message": message}}
	if substatus is not None:
		s["substatus"] = substatus
	return [{"version": 1.0, "timestampUTC": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
		 "status": s}]


def wait_report(env, ext, what, pred, timeout=20):
	"""Polls the cloud's view of ext until pred(its status) holds; that status."""
	def seen():
		s = ((fx.view(env, ext) or {}).get("status")) or {}
		return s if pred(s) else None
	s = poll(seen, timeout=timeout, interval=0.2)
	check(s, "%s: the cloud never saw %s; last: %r\n%s" % (ext, what, (fx.view(env, ext) or {}).get("status"),
							       env.extmgr.stderr_tail(30)))
	return s


def heartbeat_of(s):
	for sub in s.get("substatus") or []:
		if sub.get("name") == "heartbeat":
			return sub
	return {}


@test(timeout=120)
def status_changes_after_enable_are_reported(env):
	x = env.extmgr
	fx.publish(env, None, "1.0", handler_dir=handler(env, "moody", "Moody", False), type_name="Moody")
	v = fx.deploy(env, "moody", type_name="Moody")
	seq = v["sequenceNumber"]
	v = fx.wait_status(env, "moody", seq, operation="Enable")
	check(v["status"]["message"] == "enabled", "moody's first report: %r" % v["status"])

	# Nothing changes: nothing is sent, pass after pass.
	when = v.get("statusTime")
	time.sleep(3.5)
	v = fx.view(env, "moody")
	check(v.get("statusTime") == when and v["status"]["message"] == "enabled",
	      "a report was sent again with nothing changed: %r at %s (first at %s)" % (v["status"],
	      v.get("statusTime"), when))

	path = x.own("extensions", "%s.Moody-1.0" % fx.PUBLISHER, "status", "%d.status" % seq)
	check(os.path.isfile(path), "no status file %s" % path)

	# success, then error: reported at the same sequence number, with the handler's code.
	write_json(path, status_doc("error", 7, "disk full"))
	s = wait_report(env, "moody", "the error", lambda s: s.get("status") == "error")
	check(s["sequenceNumber"] == seq and s["operation"] == "Enable" and s["code"] == 7 and
	      s["message"] == "disk full" and s["handlerState"] == "Enabled", "moody's error: %r" % s)

	# A new message alone.
	write_json(path, status_doc("success", 0, "recovered"))
	s = wait_report(env, "moody", "the new message", lambda s: s.get("message") == "recovered")
	check(s["sequenceNumber"] == seq and s["status"] == "success" and s["code"] == 0, "moody: %r" % s)

	# A substatus alone.
	sub = [{"name": "disk", "status": "warning", "code": 3,
		"formattedMessage": {"lang": "en-US", "message": "90% full"}}]
	write_json(path, status_doc("success", 0, "recovered", sub))
	s = wait_report(env, "moody", "the substatus", lambda s: s.get("substatus") == sub)
	check(s["sequenceNumber"] == seq and s["message"] == "recovered", "moody: %r" % s)

	check(fx.view(env, "moody")["sequenceNumber"] == seq, "the goal changed: %r" % fx.view(env, "moody"))
	check([c.split()[0] for c in x.calls("Moody")] == ["install", "enable"],
	      "the handler ran again: %r" % x.calls("Moody"))
	fx.undeploy(env, "moody")
	fx.wait_gone(env, "moody")


@test(timeout=120)
def stale_heartbeat_is_unresponsive_until_it_beats_again(env):
	x = env.extmgr
	fx.publish(env, None, "1.0", handler_dir=handler(env, "beat", "Beat", True), type_name="Beat")
	v = fx.deploy(env, "beat", type_name="Beat")
	seq = v["sequenceNumber"]
	fx.wait_status(env, "beat", seq, operation="Enable")
	hbfile = x.own("extensions", "%s.Beat-1.0" % fx.PUBLISHER, "heartbeat.log")
	check(os.path.isfile(hbfile), "the enable wrote no %s" % hbfile)

	# The enable's heartbeat is fresh: the handler's own status.  Nothing writes it again, so
	# STALE seconds later the handler is unresponsive.
	started = time.monotonic()
	s = wait_report(env, "beat", "a ready heartbeat", lambda s: heartbeat_of(s).get("status") == "ready")
	check(heartbeat_of(s)["formattedMessage"]["message"] == "beating", "beat's heartbeat: %r" % s)
	s = wait_report(env, "beat", "an unresponsive heartbeat",
			lambda s: heartbeat_of(s).get("status") == "Unresponsive", timeout=STALE + 20)
	hb = heartbeat_of(s)
	check(hb["code"] == -1 and hb["formattedMessage"]["message"] == "Extension heartbeat is not responsive",
	      "beat's unresponsive heartbeat: %r" % hb)
	check(time.monotonic() - started >= STALE - 1, "unresponsive after %.1fs, before %ds"
	      % (time.monotonic() - started, STALE))
	check(s["sequenceNumber"] == seq and s["status"] == "success" and s["handlerState"] == "Enabled",
	      "beat's report: %r" % s)

	# It beats again (written on every look, as a live handler does): healthy again.
	def beat(msg):
		write_json(hbfile, [{"version": 1.0, "heartbeat": {"status": "ready", "code": 0,
			   "formattedMessage": {"lang": "en-US", "message": msg}}}])

	def healthy():
		beat("beating again")
		s = ((fx.view(env, "beat") or {}).get("status")) or {}
		hb = heartbeat_of(s)
		return s if hb.get("status") == "ready" and \
			hb["formattedMessage"]["message"] == "beating again" else None
	s = poll(healthy, timeout=20, interval=0.5)
	check(s, "beat never healthy again: %r\n%s" % ((fx.view(env, "beat") or {}).get("status"),
							 x.stderr_tail(30)))
	check(s["sequenceNumber"] == seq and s["status"] == "success", "beat's report: %r" % s)
	check([c.split()[0] for c in x.calls("Beat")] == ["install", "enable"],
	      "the handler ran again: %r" % x.calls("Beat"))
	fx.undeploy(env, "beat")
	fx.wait_gone(env, "beat")
