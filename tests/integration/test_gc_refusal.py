"""test_gc_refusal.py -- a guest configuration package that guestconfig refused is not downloaded again at every poll.

Expectations (guestconfig polling every second, against cloudsim's package store, whose log
names every GET):
- A refused package (its zip changed after it was signed and catalogued) is downloaded once.
  The polls that follow, SIGHUP, a notification wake for guestConfiguration and a restart of
  guestconfig download it no more, while the reports keep coming and keep saying why it is
  refused.
- The refusal is kept in <state>/guestconfig/refused.json (root's, 0600): the assignment's name,
  contentUri, contentHash, the reason, and retryAt one hour after the refusal.
- Once retryAt has passed, the next poll downloads it once more; refused again, it waits two hours.
- A new version of the assignment (same package) is a change: downloaded at once, and refused
  again it waits one hour.
- The assignment changed (a new contentUri and contentHash) is downloaded at once and applied, and
  the refusal is forgotten.
"""

import json
import os
import re
import stat
import time

import fx_guestconfig as fx
from fx_guestconfig import assign, pack, read, reasons, reports, targets, write
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

NAME = "refusedpkg"


def setup():
	return fx.gc_env()


def teardown(env):
	return fx.stop_gc_env(env)


def file_doc(name, path, content):
	return {"schemaVersion": 1, "name": name, "resources": [
		{"id": "f", "type": "file", "properties": {"path": path, "content": content, "mode": "0600",
										"owner": "root"}}]}


def gets(env, fname):
	"""How many GETs of /packages/<fname> the package store answered."""
	return len(re.findall(r" GET /packages/%s " % re.escape(fname), env.sim.stderr_text()))


def polls(env):
	"""How many times guestconfig asked for its assignments."""
	return len(re.findall(r" GET /machines/%s/guestConfigurationAssignments " % fx.MACHINE,
			      env.sim.stderr_text()))


def refused_reports_since(env, t0):
	return [r for r in reports(env, NAME)
		if fx.parse_time(r["receivedTime"]) >= t0 and "GC::PACKAGE::REFUSED" in json.dumps(r)]


def refusals(env):
	path = os.path.join(env.gc.own_dir(), "refused.json")
	try:
		with open(path) as f:
			return {e["name"]: e for e in json.load(f)["refusals"]}
	except (OSError, ValueError, KeyError):
		return {}


def quiet_polls(env, what, n=3):
	"""n more polls of the assignments happen (bounded); what: the step, for the message."""
	start = polls(env)
	check(poll(lambda: polls(env) >= start + n, timeout=15, interval=0.1),
	      "%s: guestconfig polled %d times, not %d\n%s" % (what, polls(env) - start, n, env.gc.stderr_tail()))


@test(timeout=120)
def refused_package_is_not_downloaded_at_every_poll(env):
	t = targets(env, "refusal")
	target = os.path.join(t, "target.conf")
	write(target, "old\n", 0o644)
	notify = os.path.join(env.arcproxy.run_dir, "notify")	# arcnotify's wake files
	os.makedirs(notify, exist_ok=True)
	uri, sha = pack(env, file_doc(NAME, target, "v1\n"), NAME)
	zname = uri.rsplit("/", 1)[1]
	with open(os.path.join(fx.store_dir(env), zname), "ab") as z:
		z.write(b"\0tampered")
	try:
		assign(env, NAME, uri, sha)
		check(poll(lambda: NAME in refusals(env), timeout=20, interval=0.1),
		      "no refusal recorded\n%s" % env.gc.stderr_tail())
		e = refusals(env)[NAME]
		check(e["contentUri"] == uri and e["contentHash"] == sha and
		      re.search(r"size \d+ != catalog \d+|sha256 mismatch", e["reason"]) and
		      e["attempts"] == 1 and e["retryAt"] - e["refusedAt"] == 3600,
		      "refused.json: %r" % e)
		st = os.lstat(os.path.join(env.gc.own_dir(), "refused.json"))
		check(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0,
		      "refused.json: mode %o uid %d" % (st.st_mode, st.st_uid))
		check(gets(env, zname) == 1, "downloaded %d times before the first refusal" % gets(env, zname))

		# Polls: no download, and the reports keep saying why.
		t0 = time.time() - 0.5
		quiet_polls(env, "after the refusal", 4)
		check(gets(env, zname) == 1, "the refused package was downloaded %d times in 4 polls" % gets(env, zname))
		check(poll(lambda: len(refused_reports_since(env, t0)) >= 3, timeout=10, interval=0.2),
		      "%d refused reports since the refusal, want 3 or more" % len(refused_reports_since(env, t0)))
		r = refused_reports_since(env, t0)[-1]
		check(r["complianceStatus"] == "NonCompliant" and
		      re.search(r"refused: (size \d+ != catalog \d+|sha256 mismatch)", reasons(r)),
		      "the report no longer says why: %s" % reasons(r))

		# SIGHUP, a notification wake, a restart: still no download.
		env.gc.reload()
		check(env.gc.log_has(r"configuration reloaded", timeout=5), "no reload\n%s" % env.gc.stderr_tail())
		quiet_polls(env, "after SIGHUP")
		check(env.gc.log_has(r"watching %s" % re.escape(notify), timeout=5),
		      "<run>/notify is not watched\n%s" % env.gc.stderr_tail())
		with open(os.path.join(notify, "guestConfiguration"), "w") as f:
			f.write("7\n")
		quiet_polls(env, "after a notification")
		check(env.gc.log_has(r"notified: polling", timeout=5), "the wake was not seen\n%s" % env.gc.stderr_tail())
		env.gc.stop()
		env.gc.start()
		quiet_polls(env, "after a restart")
		check(gets(env, zname) == 1, "downloaded %d times after SIGHUP, a wake and a restart" % gets(env, zname))
		check(env.gc.state().get("assignments", [{}])[0].get("package") == "refused",
		      "state after the restart: %r" % env.gc.state().get("assignments"))

		# The back-off has passed (retryAt moved into the past, as an hour would): one more
		# download; refused again, it waits two hours.
		doc = {"version": 1, "refusals": [dict(refusals(env)[NAME], retryAt=int(time.time()) - 1)]}
		tmp = os.path.join(env.gc.own_dir(), ".refused.test")
		with open(tmp, "w") as f:
			json.dump(doc, f)
		os.chmod(tmp, 0o600)
		os.rename(tmp, os.path.join(env.gc.own_dir(), "refused.json"))
		check(poll(lambda: gets(env, zname) == 2 and refusals(env).get(NAME, {}).get("attempts") == 2,
			   timeout=15, interval=0.1),
		      "after retryAt: %d downloads, %r\n%s" % (gets(env, zname), refusals(env), env.gc.stderr_tail()))
		e = refusals(env)[NAME]
		check(e["retryAt"] - e["refusedAt"] == 7200, "the second refusal waits %d s" % (e["retryAt"] - e["refusedAt"]))
		quiet_polls(env, "after the second refusal")
		check(gets(env, zname) == 2, "downloaded %d times after the second refusal" % gets(env, zname))

		# The assignment's version changes (same package): a change, so downloaded at once;
		# refused, a refusal of its own (1 h again).
		status, body = fx.operator(env.sim, "PUT", fx.apath(NAME), {
			"contentUri": uri, "contentHash": sha, "assignmentType": "ApplyAndAutoCorrect",
			"configurationParameter": [], "version": "1.0.1"})
		check(status in (200, 201), "PUT with a version: %d %r" % (status, body))
		check(poll(lambda: gets(env, zname) == 3 and refusals(env).get(NAME, {}).get("version") == "1.0.1",
			   timeout=15, interval=0.1),
		      "after a new version: %d downloads, %r" % (gets(env, zname), refusals(env)))
		e = refusals(env)[NAME]
		check(e["attempts"] == 1 and e["retryAt"] - e["refusedAt"] == 3600, "the new version's refusal: %r" % e)
		quiet_polls(env, "after the new version's refusal")
		check(gets(env, zname) == 3, "downloaded %d times after the new version's refusal" % gets(env, zname))

		# A new package for the assignment: fetched at once, applied, the refusal forgotten.
		uri2, sha2 = pack(env, file_doc(NAME, target, "v2\n"), NAME, version="2.0.0")
		assign(env, NAME, uri2, sha2)
		check(poll(lambda: read(target) == "v2\n", timeout=20, interval=0.1),
		      "the new package was not applied\n%s" % env.gc.stderr_tail())
		check(gets(env, uri2.rsplit("/", 1)[1]) == 1 and NAME not in refusals(env),
		      "new package: %d downloads, refusals %r" % (gets(env, uri2.rsplit("/", 1)[1]), refusals(env)))
	finally:
		fx.unassign(env, NAME)
