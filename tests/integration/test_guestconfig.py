"""guestconfig with the real cloud: assignments from cloudsim's operator API, packages from its store
(signed by gc-pack), evaluated and reported back through arcproxy and the gateway.

Expectations (fx_guestconfig.py boots cloudsim, arcproxy in gateway mode, connects the machine with
azcmagent and starts guestconfig as root; targets are files under a temp dir):
- Drift and auto-correct: ApplyAndAutoCorrect puts a file's content and mode right; the report of
  that run is NonCompliant with the reasons found, the next Compliant; a change made afterwards (mode
  and content) is corrected at the next evaluation, with the same two reports; the old content is
  kept in the backup dir and each change is a line of the change log.
- Audit changes nothing: checksums, modes and mtimes of every target are identical after runs, the
  report is NonCompliant with the reasons ("mode is 0644, expected 0600"), the change log is silent.
- ApplyAndMonitor applies once: the first run corrects, a later drift is reported and left alone;
  the assignment removed in the cloud stops at once (gone from guestconfig's state, no new report).
- Local controls: guestconfiguration.enabled = false, then config.mode = monitor (each by SIGHUP):
  nothing is changed, every report says "disabled by local configuration"; re-enabled, it corrects.
  Switched off in agent.conf while an assignment is being evaluated, the rest of it is not applied.
  A command_output whose child calls setsid is killed whole at its time limit.
- Refusals with a reason, while the others are still evaluated: a tampered package (sha256), one
  signed by another publisher, one signed in the right name under another signing CA, one signed as
  an extension's package, one signed in the old format (the zip's bytes alone), one whose signature
  names another configuration than its metadata.json, one signed as version 1.0.0 for an assignment
  of version 2.0.0, a signed package that unpacks to more than 64 MiB, a document that is not JSON,
  a resource of an unknown type (its sibling resource is still corrected).
- An applied assignment whose version changes (same package) is verified again: signed as 1.0.0,
  the package is refused as 2.0.0.
- A symlink planted by an unprivileged user at a target path is not followed: the file it points
  to is unchanged and the report says why.
- 50 assignments (one package, each with its own parameters) are first evaluated in the order of
  the cloud's list; a 51st is refused (409); a command_output that sleeps is stopped at its 1 s
  limit and reported, and the rest are evaluated.
- The cloud away (cloudsim stopped): the assignment is kept and still enforced, also after
  guestconfig restarts; one fetched more than 14 days ago is dropped at start and no longer
  enforced; cloudsim restarted has kept the assignment and its reports, and the reports go on.
- azcmagent show (-j and text) lists the assignment (type, status, last evaluation) and the local
  controls; azcmagent logs carries guestconfig's state file and guestconfig.conf.
- A write to <run>/notify/guestConfiguration makes guestconfig fetch the assignments at once (a
  flood of them: at most one fetch a second)
  (its poll is 300 s then).
"""

import json
import os
import re
import subprocess
import tarfile
import time

import fx_guestconfig as fx
import harness
from fx_guestconfig import (assign, mode_of, pack, read, reasons, reports, resource, snapshot,
			    targets, unassign, wait_report, write)
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fx.gc_env()


def teardown(env):
	return fx.stop_gc_env(env)


def file_doc(name, *resources):
	return {"schemaVersion": 1, "name": name, "resources": list(resources)}


def file_res(rid, path, content, mode="0600"):
	return {"id": rid, "type": "file", "properties": {"path": path, "content": content, "mode": mode,
							 "owner": "root"}}


def compliant(r):
	return r["complianceStatus"] == "Compliant"


def noncompliant(r):
	return r["complianceStatus"] == "NonCompliant"


@test(timeout=60)
def drift_and_autocorrect(env):
	t = targets(env, "drift")
	f = os.path.join(t, "app.conf")
	write(f, "setting = 0\n", 0o644)
	uri, sha = pack(env, file_doc("drift", file_res("appconf", f, "setting = 1\n")), "drift")
	assign(env, "drift", uri, sha)
	try:
		first = wait_report(env, "drift", lambda r: True, "the first report")
		check(noncompliant(first) and first["details"]["operationType"] == "Initial",
		      "the first run found drift: %r" % first)
		text = reasons(first)
		check("mode is 0644, expected 0600" in text and re.search(r"content", text),
		      "the first report's reasons: %s" % text)
		check(first["assignment"]["configuration"]["name"] == "drift" and
		      first["assignment"]["configuration"]["version"] == "1.0.0", "configuration %r"
		      % first["assignment"])
		check(read(f) == "setting = 1\n" and mode_of(f) == 0o600, "not corrected: %r %o"
		      % (read(f), mode_of(f)))
		n = len(reports(env, "drift"))
		nxt = wait_report(env, "drift", compliant, "Compliant after the correction", after=n - 1)
		check(nxt["details"]["operationType"] == "Consistency", "operationType %r" % nxt["details"])
		check(resource(nxt, "[file]appconf")["complianceStatus"] == "Compliant", "resource %r" % nxt)

		# Drift: someone changes mode and content; the next evaluation puts both back.
		n = len(reports(env, "drift"))
		write(f, "setting = 2\n# edited by hand\n", 0o644)
		bad = wait_report(env, "drift", noncompliant, "NonCompliant after the drift", after=n)
		text = reasons(bad)
		check("mode is 0644, expected 0600" in text, "the drift's reasons: %s" % text)
		check(read(f) == "setting = 1\n" and mode_of(f) == 0o600, "the drift was not corrected: %r %o"
		      % (read(f), mode_of(f)))
		wait_report(env, "drift", compliant, "Compliant again", after=reports(env, "drift").index(bad) + 1)
		# The content as it was is kept, and each change is a change-log line.
		backups = os.listdir(os.path.join(env.gc.own_dir(), "backup"))
		kept = [read(os.path.join(env.gc.own_dir(), "backup", b)) for b in backups]
		check("setting = 2\n# edited by hand\n" in kept, "no backup of the drifted content: %r" % kept)
		log = [l for l in env.gc.change_log().splitlines() if f in l]
		check(len(log) >= 2 and all("drift" in l for l in log), "change log: %r" % log)
		st = env.gc.state()
		a = [x for x in st["assignments"] if x["name"] == "drift"]
		check(a and a[0]["lastEvaluation"] and a[0]["status"] in ("Compliant", "NonCompliant"),
		      "guestconfig's state file: %r" % st)
	finally:
		unassign(env, "drift")


@test(timeout=60)
def audit_changes_nothing(env):
	t = targets(env, "audit")
	f1, f2, f3 = (os.path.join(t, n) for n in ("a.conf", "sshd_config", "absent.conf"))
	write(f1, "x = 1\n", 0o644)
	write(f2, "Port 22\nPermitRootLogin yes\n", 0o644)
	paths = [f1, f2, f3, t]
	doc = file_doc("audit", file_res("a", f1, "x = 2\n"),
		       {"id": "root_login", "type": "file_line", "properties": {
			       "path": f2, "regex": "^PermitRootLogin[[:space:]]", "line": "PermitRootLogin no"}},
		       file_res("absent", f3, "y\n"),
		       {"id": "dir", "type": "directory", "properties": {"path": t, "mode": "0700"}})
	uri, sha = pack(env, doc, "audit")
	before = snapshot(paths)
	log_before = env.gc.change_log()
	assign(env, "audit", uri, sha, kind="Audit")
	try:
		first = wait_report(env, "audit", lambda r: True, "the first report")
		check(noncompliant(first), "audit found nothing: %r" % first)
		text = reasons(first)
		for want in ("mode is 0644, expected 0600", "PermitRootLogin", f3):
			check(want in text, "the audit's reasons lack %r: %s" % (want, text))
		check(resource(first, "[file_line]root_login")["complianceStatus"] == "NonCompliant",
		      "file_line: %r" % first)
		wait_report(env, "audit", noncompliant, "a second audit", after=1)
		after = snapshot(paths)
		for p in paths:
			check(before[p] == after[p], "audit changed %s: %r -> %r" % (p, before[p], after[p]))
		check(env.gc.change_log() == log_before, "audit wrote the change log:\n%s" % env.gc.change_log())
	finally:
		unassign(env, "audit")


@test(timeout=60)
def apply_and_monitor_applies_once(env):
	t = targets(env, "monitor")
	f = os.path.join(t, "m.conf")
	write(f, "old\n", 0o640)
	uri, sha = pack(env, file_doc("monitor", file_res("m", f, "new\n")), "monitor")
	assign(env, "monitor", uri, sha, kind="ApplyAndMonitor")
	try:
		wait_report(env, "monitor", lambda r: True, "the first report")
		check(read(f) == "new\n" and mode_of(f) == 0o600, "the first run did not apply: %r %o"
		      % (read(f), mode_of(f)))
		n = len(reports(env, "monitor"))
		write(f, "drifted\n", 0o644)
		r = wait_report(env, "monitor", noncompliant, "the drift reported", after=n)
		check("mode is 0644, expected 0600" in reasons(r), "reasons: %s" % reasons(r))
		wait_report(env, "monitor", noncompliant, "still reported", after=reports(env, "monitor").index(r) + 1)
		check(read(f) == "drifted\n" and mode_of(f) == 0o644, "ApplyAndMonitor corrected a later "
		      "drift: %r %o" % (read(f), mode_of(f)))
	finally:
		unassign(env, "monitor")
	# Removed in the cloud: gone from guestconfig at its next poll, nothing more evaluated.
	check(poll(lambda: "monitor" not in [a["name"] for a in env.gc.state().get("assignments", [])],
		   timeout=5), "the removed assignment is still in guestconfig's state: %r" % env.gc.state())
	check(env.gc.log_has(r"assignment monitor: removed"), "no log line for the removal")
	mark = len(env.gc.stderr_text())
	fx.wait_quiet(3)
	check(not re.search(r"assignment monitor \(", env.gc.stderr_text()[mark:]),
	      "a removed assignment was evaluated again:\n%s" % env.gc.stderr_text()[mark:])


@test(timeout=60)
def disabled_by_local_configuration(env):
	t = targets(env, "local")
	f = os.path.join(t, "l.conf")
	write(f, "drift\n", 0o644)
	uri, sha = pack(env, file_doc("local", file_res("l", f, "wanted\n")), "local")
	fx.set_local(env, "guestconfiguration = { enabled = false; };\n")
	check(env.gc.log_has(r"disabled by local configuration: guestconfiguration\.enabled is false"),
	      "SIGHUP did not apply guestconfiguration.enabled = false\n%s" % env.gc.stderr_tail())
	before = snapshot([f])
	try:
		assign(env, "local", uri, sha)
		r = wait_report(env, "local", lambda r: True, "a report while disabled")
		check("disabled by local configuration" in reasons(r), "reasons: %s" % reasons(r))
		check(r["complianceStatus"] == "Pending", "status while disabled: %r" % r["complianceStatus"])
		fx.set_local(env, "config = { mode = \"monitor\"; };\n")
		check(env.gc.log_has(r"disabled by local configuration: config\.mode is monitor"),
		      "SIGHUP did not apply config.mode = monitor")
		n = len(reports(env, "local"))
		r = wait_report(env, "local", lambda r: True, "a report in monitor mode", after=n)
		check("config.mode is monitor" in reasons(r), "reasons: %s" % reasons(r))
		check(snapshot([f]) == before, "changed while disabled: %r" % snapshot([f]))
		fx.set_local(env, "")
		check(poll(lambda: read(f) == "wanted\n", timeout=10), "re-enabled, it did not correct")
	finally:
		fx.set_local(env, "")
		unassign(env, "local")


def running(argv_text):
	"""Whether a process runs whose command line (words joined by spaces) is argv_text."""
	for pid in os.listdir("/proc"):
		try:
			with open("/proc/%s/cmdline" % pid, "rb") as f:
				if f.read().replace(b"\0", b" ").strip() == argv_text.encode():
					return True
		except (OSError, ValueError):
			pass
	return False


@test(timeout=90)
def disabled_mid_evaluation_changes_nothing_more(env):
	t = targets(env, "midway")
	f = os.path.join(t, "m.conf")
	write(f, "drift\n", 0o644)
	slow = {"id": "slow", "type": "command_output", "properties": {
		"argv": ["/bin/sleep", "3.217"], "regex": "never", "timeoutMs": 8000}}
	uri, sha = pack(env, file_doc("midway", slow, file_res("m", f, "wanted\n")), "midway")
	before = snapshot([f])
	try:
		assign(env, "midway", uri, sha)
		check(poll(lambda: running("/bin/sleep 3.217"), timeout=20), "the slow check never ran")
		# Switched off while the first resource is being evaluated: the second is not applied.
		fx.set_local(env, "guestconfiguration = { enabled = false; };\n")
		r = wait_report(env, "midway", lambda r: True, "the report of the evaluation under way", timeout=20)
		check("disabled by local configuration" in reasons(r) and r["complianceStatus"] == "Pending",
		      "the first report: %s %s" % (r["complianceStatus"], reasons(r)))
		check(snapshot([f]) == before, "changed after guestconfiguration.enabled = false: %r" % snapshot([f]))
		fx.set_local(env, "")
		check(poll(lambda: read(f) == "wanted\n", timeout=20), "re-enabled, it did not correct")
	finally:
		fx.set_local(env, "")
		unassign(env, "midway")


@test(timeout=60)
def command_output_that_daemonizes_is_killed_at_its_limit(env):
	"""A command_output whose child leaves the group and the session (setsid -f) is still killed
	at the time limit."""
	esc = {"id": "esc", "type": "command_output", "properties": {
		"argv": ["/bin/sh", "-c", "setsid -f /bin/sleep 7.531 </dev/null >/dev/null 2>&1; exec /bin/sleep 30"],
		"regex": "never", "timeoutMs": 1000}}
	uri, sha = pack(env, file_doc("escape", esc), "escape")
	try:
		assign(env, "escape", uri, sha, kind="Audit")
		check(poll(lambda: running("/bin/sleep 7.531"), timeout=20), "the command never ran")
		wait_report(env, "escape", lambda r: True, "the report of the command", timeout=20)
		check(poll(lambda: not running("/bin/sleep 7.531"), timeout=3), "the daemonized child outlived the "
		      "time limit")
	finally:
		unassign(env, "escape")


@test(timeout=90)
def signed_zip_bomb_refused(env):
	"""A guest configuration package holds a document: one that unpacks to 80 MiB is refused (the
	2 GiB of extension packages would let 50 assignments fill the state dir), signed or not."""
	import hashlib
	import zipfile
	t = targets(env, "bomb")
	f = os.path.join(t, "b.conf")
	write(f, "drift\n", 0o644)
	before = snapshot([f])
	pack(env, file_doc("bomb", file_res("b", f, "wanted\n")), "bomb")
	z = os.path.join(fx.store_dir(env), "bomb-1.0.0.zip")
	with zipfile.ZipFile(z, "a", zipfile.ZIP_DEFLATED) as zf:
		with zf.open("pad.bin", "w", force_zip64=True) as w:
			chunk = bytes(1 << 20)
			for _ in range(80):
				w.write(chunk)
	fx.sign(env, z, "bomb")
	with open(z, "rb") as zf:
		sha = hashlib.sha256(zf.read()).hexdigest()
	try:
		assign(env, "bomb", "https://packages.cloudsim.test/packages/bomb-1.0.0.zip", sha)
		r = wait_report(env, "bomb", noncompliant, "the bomb refused", timeout=30)
		check("refused" in reasons(r) and "unpacked in total" in reasons(r), "bomb: %s" % reasons(r))
		check(snapshot([f]) == before, "the bomb's document was applied: %r" % snapshot([f]))
	finally:
		unassign(env, "bomb")


@test(timeout=90)
def refused_with_reasons_others_still_evaluated(env):
	t = targets(env, "refused")
	good, sibling = os.path.join(t, "good.conf"), os.path.join(t, "sibling.conf")
	write(good, "bad\n", 0o644)
	write(sibling, "bad\n", 0o644)
	# Tampered: the store's zip changes after it was signed and catalogued.
	uri_t, sha_t = pack(env, file_doc("tampered", file_res("x", good, "x\n")), "tampered")
	with open(os.path.join(fx.store_dir(env), "tampered-1.0.0.zip"), "ab") as z:
		z.write(b"\0tampered")
	# Another publisher's signature, valid under the signing CA.
	uri_w, sha_w = pack(env, file_doc("wrongsigner", file_res("x", good, "x\n")), "wrongsigner",
			    publisher="Evil.Publisher")
	# The right publisher's name, from another package-signing CA.
	other = os.path.join(env.sim.base, "other-pki")
	r = env.sim.run("pki", other)
	check(r.returncode == 0, "cloudsim pki: %s" % r.stderr)
	uri_f, sha_f = pack(env, file_doc("forged", file_res("x", good, "x\n")), "forged", pki=other)
	uri_b, sha_b = pack(env, None, "baddoc", raw="{ this is not json")
	uri_u, sha_u = pack(env, file_doc("unknown", {"id": "odd", "type": "frobnicate", "properties": {}},
					  file_res("sibling", sibling, "fine\n")), "unknown")
	uri_g, sha_g = pack(env, file_doc("good", file_res("good", good, "fine\n")), "good")
	# Signed as what it is not: as an extension's package, in the old format (the zip's bytes
	# alone), as another configuration than its metadata.json names, and as version 1.0.0 for an
	# assignment of version 2.0.0.
	uri_e, sha_e = pack(env, file_doc("asext", file_res("x", good, "x\n")), "asext")
	fx.sign(env, os.path.join(fx.store_dir(env), "asext-1.0.0.zip"), "asext", kind="extension")
	uri_o, sha_o = pack(env, file_doc("oldsig", file_res("x", good, "x\n")), "oldsig")
	fx.sign_old_format(env, os.path.join(fx.store_dir(env), "oldsig-1.0.0.zip"))
	uri_m, sha_m = pack(env, file_doc("metaname", file_res("x", good, "x\n")), "metaname")
	fx.sign(env, os.path.join(fx.store_dir(env), "metaname-1.0.0.zip"), "othername")
	uri_v, sha_v = pack(env, file_doc("wrongver", file_res("x", good, "x\n")), "wrongver")
	refused_as = ("asext", "oldsig", "metaname", "wrongver")
	try:
		for name, uri, sha in (("tampered", uri_t, sha_t), ("wrongsigner", uri_w, sha_w),
				       ("forged", uri_f, sha_f), ("baddoc", uri_b, sha_b),
				       ("unknown", uri_u, sha_u), ("good", uri_g, sha_g),
				       ("asext", uri_e, sha_e), ("oldsig", uri_o, sha_o),
				       ("metaname", uri_m, sha_m)):
			assign(env, name, uri, sha)
		status, body = fx.operator(env.sim, "PUT", fx.apath("wrongver"), {
			"contentUri": uri_v, "contentHash": sha_v, "assignmentType": "ApplyAndAutoCorrect",
			"configurationParameter": [], "version": "2.0.0"})
		check(status in (200, 201), "PUT wrongver with a version: %d %r" % (status, body))
		env.names.append("wrongver")
		r = wait_report(env, "tampered", noncompliant, "the tampered package refused")
		check(re.search(r"refused: (size \d+ != catalog \d+|sha256 mismatch)", reasons(r)),
		      "tampered: %s" % reasons(r))
		for name, what, reason in (
				("wrongsigner", "the other publisher refused",
				 "signer CN=Evil.Publisher is not publisher Cloudsim.GuestConfiguration"),
				("forged", "another CA's signature refused", "not signed by the package-signing CA"),
				("asext", "an extension's signature refused",
				 "refused: signature: signed as an extension package, not a guestconfiguration"),
				("oldsig", "the old-format signature refused",
				 "refused: signature: old format (a detached signature of the package bytes"),
				("metaname", "the configuration signed under another name refused",
				 "metadata.json names configuration metaname 1.0.0, its signature othername 1.0.0"),
				("wrongver", "the package signed as another version refused",
				 "refused: signature: signed as version 1.0.0, not 2.0.0")):
			r = wait_report(env, name, noncompliant, what)
			check(reason in reasons(r), "%s: %s" % (name, reasons(r)))
		r = wait_report(env, "baddoc", noncompliant, "the bad document refused")
		check(re.search(r"configuration document refused", reasons(r)), "bad document: %s" % reasons(r))
		r = wait_report(env, "unknown", lambda r: True, "the unknown type's report")
		odd = resource(r, "[frobnicate]odd")
		check(odd["complianceStatus"] == "NonCompliant" and
		      any("UNKNOWNTYPE" in x["code"] for x in odd["reasons"]), "unknown type: %r" % odd)
		check(poll(lambda: read(sibling) == "fine\n", timeout=10),
		      "the unknown type's sibling resource was not corrected")
		wait_report(env, "good", lambda r: True, "the good assignment's report")
		check(poll(lambda: read(good) == "fine\n" and mode_of(good) == 0o600, timeout=10),
		      "the good assignment beside the refused ones was not applied")
		# A package unpacks into packages/<assignment>-<first 16 of its hash>: the good one
		# is there (so the names are right), no refused one is.
		pkgs = os.listdir(os.path.join(env.gc.own_dir(), "packages"))
		check(any(e.startswith("good-") and not e.endswith(".zip") for e in pkgs),
		      "the good package is not unpacked under packages/good-*: %s" % pkgs)
		for name in ("tampered", "wrongsigner", "forged") + refused_as:
			left = [e for e in pkgs if e.startswith(name + "-")]
			check(not left, "a refused package was unpacked or left: %s" % left)
	finally:
		for name in ("tampered", "wrongsigner", "forged", "baddoc", "unknown", "good") + refused_as:
			unassign(env, name)


@test(timeout=60)
def a_new_version_is_verified_again(env):
	"""An applied assignment whose version changes (the same package) is checked against the
	package's signature again: signed as 1.0.0, it is refused as 2.0.0."""
	t = targets(env, "version")
	f = os.path.join(t, "v.conf")
	write(f, "old\n", 0o644)
	uri, sha = pack(env, file_doc("verpkg", file_res("v", f, "wanted\n")), "verpkg", version="1.0.0")

	def put(version):
		status, body = fx.operator(env.sim, "PUT", fx.apath("verpkg"), {
			"contentUri": uri, "contentHash": sha, "assignmentType": "ApplyAndAutoCorrect",
			"configurationParameter": [], "version": version})
		check(status in (200, 201), "PUT verpkg version %s: %d %r" % (version, status, body))
		if "verpkg" not in env.names:
			env.names.append("verpkg")
	try:
		put("1.0.0")
		wait_report(env, "verpkg", compliant, "version 1.0.0 applied", timeout=20)
		check(read(f) == "wanted\n", "version 1.0.0 was not applied")
		put("2.0.0")
		r = wait_report(env, "verpkg", lambda r: "signed as version" in reasons(r), "version 2.0.0 refused",
				timeout=20)
		check(noncompliant(r) and "refused: signature: signed as version 1.0.0, not 2.0.0" in reasons(r),
		      "version 2.0.0: %s" % reasons(r))
	finally:
		unassign(env, "verpkg")


@test(timeout=60)
def planted_symlink_not_followed(env):
	user = harness._run_as()
	if not user:
		raise harness.Skip("needs root and an unprivileged user to plant the link")
	t = targets(env, "symlink")
	secret = os.path.join(t, "secret")
	write(secret, "root's secret\n", 0o600)
	open_dir = os.path.join(t, "users")
	os.mkdir(open_dir, 0o755)
	os.chown(open_dir, user.pw_uid, user.pw_gid)
	link = os.path.join(open_dir, "app.conf")
	os.symlink(secret, link)
	os.lchown(link, user.pw_uid, user.pw_gid)
	before = snapshot([secret])
	uri, sha = pack(env, file_doc("symlink", file_res("planted", link, "owned\n", mode="0644")), "symlink")
	assign(env, "symlink", uri, sha)
	try:
		r = wait_report(env, "symlink", lambda r: True, "the report")
		check(noncompliant(r), "a planted link was reported as %r" % r["complianceStatus"])
		check(re.search(r"symlink|symbolic link|Too many levels", reasons(r)), "reasons: %s" % reasons(r))
		wait_report(env, "symlink", lambda r: True, "a second run", after=1)
		check(snapshot([secret]) == before, "the file behind the planted link changed")
		check(os.path.islink(link), "the planted link was replaced")
	finally:
		unassign(env, "symlink")


@test(timeout=120)
def fifty_in_order_and_a_slow_command_times_out(env):
	t = targets(env, "fifty")
	slow = {"id": "slow", "type": "command_output", "properties": {
		"argv": ["/bin/sleep", "30"], "regex": "never", "timeoutMs": 1000}}
	uri_s, sha_s = pack(env, file_doc("slow", slow), "slow")
	# One package for the rest: each assignment's parameters name its own file.
	doc = file_doc("fifty", file_res("f", os.path.join(t, "unused"), "x\n"))
	doc["parameters"] = ["[file]f;path", "[file]f;content"]
	uri, sha = pack(env, doc, "fifty")
	paths = [os.path.join(t, "f%02d" % i) for i in range(50)]
	names = ["a%02d" % i for i in range(50)]
	# Each evaluated once here: the first round is what is measured.
	env.gc.settings["evaluation_seconds"] = 120
	env.gc.write_config()
	env.gc.reload()
	try:
		for i, name in enumerate(names):
			if i == 1:
				assign(env, name, uri_s, sha_s, kind="Audit")
			else:
				assign(env, name, uri, sha, params=[("[file]f;path", paths[i]),
								    ("[file]f;content", "%d\n" % i)])
		status, body = fx.operator(env.sim, "PUT", fx.apath("a50"), {
			"contentUri": uri_s, "contentHash": sha_s, "assignmentType": "Audit"})
		check(status == 409, "a 51st assignment: %d %r" % (status, body))

		def all_reported():
			return all(reports(env, n) for n in names)
		check(poll(all_reported, timeout=60, interval=0.5), "not every assignment reported: %r\n%s"
		      % ([n for n in names if not reports(env, n)], env.gc.stderr_tail()))
		starts = [reports(env, n)[0]["startTime"] for n in names]
		check(starts == sorted(starts), "first evaluations out of order: %r" % list(zip(names, starts)))
		r = reports(env, "a01")[0]
		check(noncompliant(r) and re.search(r"time limit|timed out|timeout", reasons(r), re.I),
		      "the slow command: %s" % reasons(r))
		took = fx.parse_time(r["endTime"]) - fx.parse_time(r["startTime"])
		check(took < 5, "the slow command held its evaluation %.1fs (limit 1 s)" % took)
		for i, p in enumerate(paths):
			if i != 1:
				check(read(p) == "%d\n" % i, "%s not applied with its parameters" % p)
	finally:
		for name in names:
			unassign(env, name)
		env.gc.settings["evaluation_seconds"] = 2
		env.gc.write_config()
		env.gc.reload()


@test(timeout=90)
def kept_while_the_cloud_is_away(env):
	t = targets(env, "offline")
	f = os.path.join(t, "o.conf")
	write(f, "x\n", 0o644)
	uri, sha = pack(env, file_doc("offline", file_res("o", f, "kept\n")), "offline")
	assign(env, "offline", uri, sha)
	try:
		wait_report(env, "offline", lambda r: True, "the first report")
		check(poll(lambda: read(f) == "kept\n", timeout=5), "not applied")
		env.sim.stop()
		# No cloud: the assignment is kept (its state says why the poll failed) and still enforced.
		check(poll(lambda: env.gc.state().get("lastPollError"), timeout=10),
		      "guestconfig did not notice the cloud is away: %r" % env.gc.state())
		write(f, "drift\n", 0o644)
		check(poll(lambda: read(f) == "kept\n" and mode_of(f) == 0o600, timeout=10),
		      "the drift was not corrected while the cloud was away\n%s" % env.gc.stderr_tail())
		check("offline" in [a["name"] for a in env.gc.state()["assignments"]], "assignment dropped")
		# Restarted without the cloud: the kept assignment and its package still serve.
		restart_gc(env)
		write(f, "drift again\n", 0o644)
		check(poll(lambda: read(f) == "kept\n", timeout=10),
		      "after a restart without the cloud, the kept assignment was not enforced\n%s"
		      % env.gc.stderr_tail())
		# Fetched more than 14 days ago: dropped at start, nothing enforced.
		env.gc.stop()
		path = os.path.join(env.gc.own_dir(), "guestconfig.json")
		st = env.gc.state()
		st["lastFetch"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 15 * 86400))
		with open(path, "w") as out:
			json.dump(st, out)
		restart_gc(env, stopped=True)
		check(env.gc.log_has(r"older than 14 days: dropped", timeout=5), "old assignments not dropped")
		write(f, "drift once more\n", 0o644)
		fx.wait_quiet(3)
		check(read(f) == "drift once more\n", "an assignment older than 14 days was enforced")
		env.sim.start()
		# cloudsim kept the assignment and its reports over the restart; the reports go on.
		before = len(reports(env, "offline"))
		check(before >= 1, "cloudsim lost the assignment's reports over a restart")
		wait_report(env, "offline", lambda r: True, "a report after the cloud came back", timeout=30,
			    after=before)
		check(poll(lambda: not env.gc.state().get("lastPollError"), timeout=10),
		      "the polls still fail: %r" % env.gc.state())
	finally:
		if not env.sim.alive():
			env.sim.start()
		unassign(env, "offline")


@test(timeout=60)
def azcmagent_show_and_logs(env):
	"""azcmagent show (-j and text) lists the assignment, its mode, status and last evaluation;
	azcmagent logs carries guestconfig's state, change log and configuration."""
	t = targets(env, "show")
	f = os.path.join(t, "s.conf")
	write(f, "x\n", 0o644)
	uri, sha = pack(env, file_doc("show", file_res("s", f, "shown\n")), "show")
	assign(env, "show", uri, sha, kind="Audit")
	p = env.arcproxy
	dirs = ["--config-dir", p.conf_dir, "--state-dir", p.state_dir, "--run-dir", p.run_dir]
	try:
		wait_report(env, "show", lambda r: True, "the first report")
		check(poll(lambda: any(a["name"] == "show" and a["lastEvaluation"]
				       for a in env.gc.state().get("assignments", [])), timeout=5), "state file")
		r = subprocess.run([str(fx.AZCMAGENT), "show", "-j", *dirs], capture_output=True, text=True,
				   timeout=30)
		check(r.returncode == 0, "show -j: %s" % r.stderr)
		g = json.loads(r.stdout)["guestConfiguration"]
		a = [x for x in g["assignments"] if x["name"] == "show"]
		check(g["enabled"] is True and g["mode"] == "full" and a and a[0]["assignmentType"] == "Audit"
		      and a[0]["status"] == "NonCompliant" and a[0]["lastEvaluation"] and
		      a[0]["configuration"] == "show", "show -j: %r" % g)
		r = subprocess.run([str(fx.AZCMAGENT), "show", *dirs], capture_output=True, text=True, timeout=30)
		check(re.search(r"^Guest Configuration: enabled, mode full, \d+ assignments?$", r.stdout, re.M) and
		      re.search(r"^  show \(Audit\): NonCompliant, last evaluation \S+", r.stdout, re.M),
		      "show:\n%s" % r.stdout)
		out = os.path.join(env.tmp, "logs.tar.gz")
		r = subprocess.run([str(fx.AZCMAGENT), "logs", "--output", out, *dirs], capture_output=True,
				   text=True, timeout=30)
		check(r.returncode == 0, "logs: %s" % r.stderr)
		with tarfile.open(out) as tar:
			names = tar.getnames()
		for want in ("guestconfig/guestconfig.json", "guestconfig.conf"):
			check(any(n.endswith(want) for n in names), "logs lack %s: %r" % (want, names))
	finally:
		unassign(env, "show")


def restart_gc(env, stopped=False):
	if not stopped:
		env.gc.stop()
	check(env.gc.proc.returncode == 0, "guestconfig exited %s on SIGTERM" % env.gc.proc.returncode)
	mark = len(re.findall(r"gc_run: started", env.gc.stderr_text()))
	env.gc.start()
	check(poll(lambda: len(re.findall(r"gc_run: started", env.gc.stderr_text())) > mark, timeout=5),
	      "guestconfig did not start again\n%s" % env.gc.stderr_tail())


@test(timeout=60)
def notified_at_once(env):
	"""<run>/notify/guestConfiguration written: the assignments are fetched now, not at the poll."""
	run = env.arcproxy.run_dir
	os.makedirs(os.path.join(run, "notify"), exist_ok=True)
	env.gc.settings["poll_seconds"] = 300
	env.gc.write_config()
	mark = len(env.gc.stderr_text())
	env.gc.reload()	# polls once now (and starts watching <run>/notify), then every 300 s
	check(poll(lambda: "configuration reloaded" in env.gc.stderr_text()[mark:], timeout=5), "no reload")
	t = targets(env, "notify")
	f = os.path.join(t, "n.conf")
	write(f, "x\n", 0o644)
	uri, sha = pack(env, file_doc("notify", file_res("n", f, "now\n")), "notify")
	try:
		fx.wait_quiet(1.5)
		assign(env, "notify", uri, sha)
		tmp = os.path.join(run, "notify", ".guestConfiguration.tmp")
		write(tmp, "7\n", 0o644)
		os.rename(tmp, os.path.join(run, "notify", "guestConfiguration"))
		wait_report(env, "notify", lambda r: True, "a report after the notification", timeout=10)
		check(read(f) == "now\n", "not applied")
		# A flood of notifications (another user's files): at most one fetch a second.
		fetches = lambda: len(re.findall(r" GET /machines/[^/ ]+/guestConfigurationAssignments ",
						env.sim.stderr_text()))
		n = fetches()
		t0 = time.monotonic()
		while time.monotonic() - t0 < 3.0:
			write(os.path.join(run, "notify", "guestConfiguration"), "8\n", 0o644)
			time.sleep(0.01)
		time.sleep(1.2)
		check(n + 1 <= fetches() <= n + 5, "%d fetches for 3 s of notifications" % (fetches() - n))
	finally:
		env.gc.settings["poll_seconds"] = 1
		env.gc.write_config()
		env.gc.reload()
		unassign(env, "notify")
