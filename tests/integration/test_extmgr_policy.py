"""extmgr's local controls (agent.conf) beat the cloud, and are applied before anything is downloaded.

Expectations, one test per row of ARC-FACTS' table: a refusal is reported as that extension's
failure with a reason naming the setting, nothing is downloaded or run; blocklist; allowlist
(listed and not); both lists (the blocklist wins); Allow/None; config.mode monitor (the sample is
not a monitoring extension; the lists are not read); extensions.enabled false; lifting a refusal
(SIGHUP) installs at the next poll; delete while blocked is allowed; a block added after install
uninstalls nothing and refuses the next reconfiguration; with extensions.enabled false the cloud's
delete is refused and an extension the cloud forgets keeps running (no handler runs), while
`azcmagent extension remove` on the machine still removes it; a block written while the package
downloads stops its install.
"""

import json
import os
import re

import fx_extmgr as fx
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	env = fx.extmgr_env()
	fx.publish(env, "hello", "1.0")
	return env


def teardown(env):
	return fx.stop_extmgr_env(env)


def passes(x):
	return len(re.findall(r"goal state \d+: \d+ extensions", x.stderr_text()))


def agent(env, text):
	"""agent.conf, then SIGHUP; returns once a pass has begun with it (a pass under way when the
	signal came read the old one).  Nothing to do when agent.conf says that already: each test
	sets the one it needs (the empty one if it needs none) rather than resetting it at its end."""
	x = env.extmgr
	if getattr(env, "agent_text", "") == text:
		return
	env.agent_text = text
	x.write_agent_conf(text)
	n = passes(x)
	x.reload()
	check(poll(lambda: passes(x) >= n + 2, timeout=10), "extmgr made no pass after SIGHUP\n" + x.stderr_tail())


def package_tunnels(env):
	return len([l for l in env.arcproxy.access_log_lines() if " CONNECT packages.cloudsim.test:443 " in l])


def refused(env, text, needle):
	"""With agent.conf text, deploying hello is refused with needle in the reason; then removed."""
	agent(env, text)
	x = env.extmgr
	before = package_tunnels(env)
	calls = len(x.calls("Hello"))
	v = fx.deploy(env, "pol", "hello", settings={"caFile": env.sim.file("ca.crt")})
	v = fx.wait_status(env, "pol", v["sequenceNumber"], status=("error",), operation="Install")
	s = v["status"]
	check(s["code"] == 1 and "refused by the local setting " + needle in s["message"],
	      "refusal: %r (want %r)" % (s, needle))
	check(fx.ext_dirs(x) == [] and os.listdir(x.own("downloads")) == [] and len(x.calls("Hello")) == calls,
	      "something was downloaded or run: %r %r" % (fx.ext_dirs(x), x.calls("Hello")[calls:]))
	check(package_tunnels(env) == before, "a package was fetched before the refusal")
	fx.undeploy(env, "pol")
	fx.wait_gone(env, "pol")


def allowed(env, text):
	agent(env, text)
	v = fx.deploy(env, "pol", "hello", settings={"caFile": env.sim.file("ca.crt")})
	fx.wait_status(env, "pol", v["sequenceNumber"], operation="Enable")
	fx.undeploy(env, "pol")
	fx.wait_gone(env, "pol")
	check(fx.ext_dirs(env.extmgr) == [], "not removed: %r" % fx.ext_dirs(env.extmgr))


@test(timeout=60)
def blocklist_refuses(env):
	refused(env, 'extensions = { blocklist = [ "Cloudsim.Samples/Hello" ]; };\n',
		"extensions.blocklist: it lists Cloudsim.Samples/Hello")


@test(timeout=60)
def allowlist_without_it_refuses(env):
	refused(env, 'extensions = { allowlist = [ "Contoso/Other" ]; };\n',
		"extensions.allowlist: it does not list Cloudsim.Samples/Hello")


@test(timeout=60)
def allowlist_with_it_allows(env):
	allowed(env, 'extensions = { allowlist = [ "Contoso/Other", "Cloudsim.Samples/Hello" ]; };\n')


@test(timeout=60)
def both_lists_the_blocklist_wins(env):
	refused(env, 'extensions = { allowlist = [ "Cloudsim.Samples/Hello" ]; '
		'blocklist = [ "Cloudsim.Samples/Hello" ]; };\n', "extensions.blocklist")


@test(timeout=60)
def blocklist_of_another_allows(env):
	allowed(env, 'extensions = { blocklist = [ "Contoso/Other" ]; };\n')


@test(timeout=60)
def allow_none_refuses(env):
	refused(env, 'extensions = { allowlist = [ "Allow/None" ]; };\n', "extensions.allowlist = Allow/None")


@test(timeout=60)
def monitor_mode_refuses_other_extensions(env):
	refused(env, 'config = { mode = "monitor"; };\nextensions = { allowlist = [ "Cloudsim.Samples/Hello" ]; };\n',
		"config.mode = monitor: Cloudsim.Samples/Hello is not one of its monitoring")


@test(timeout=60)
def disabled_runs_nothing(env):
	refused(env, 'extensions = { enabled = false; };\n', "extensions.enabled = false")


@test(timeout=60)
def lifting_a_block_installs(env):
	agent(env, 'extensions = { blocklist = [ "Cloudsim.Samples/Hello" ]; };\n')
	v = fx.deploy(env, "pol", "hello", settings={"caFile": env.sim.file("ca.crt")})
	fx.wait_status(env, "pol", v["sequenceNumber"], status=("error",), operation="Install")
	agent(env, "")
	fx.wait_status(env, "pol", v["sequenceNumber"], operation="Enable")
	fx.undeploy(env, "pol")
	fx.wait_gone(env, "pol")


@test(timeout=60)
def block_after_install_uninstalls_nothing_and_delete_is_allowed(env):
	x = env.extmgr
	agent(env, "")
	ca = env.sim.file("ca.crt")
	v = fx.deploy(env, "pol", "hello", settings={"caFile": ca, "bytes": 5})
	fx.wait_status(env, "pol", v["sequenceNumber"], operation="Enable")
	agent(env, 'extensions = { blocklist = [ "Cloudsim.Samples/Hello" ]; };\n')
	calls = len(x.calls("Hello"))
	v = fx.deploy(env, "pol", "hello", settings={"caFile": ca, "bytes": 6})
	v = fx.wait_status(env, "pol", v["sequenceNumber"], status=("error",), operation="Enable")
	check("extensions.blocklist" in v["status"]["message"], "reconfigure refusal: %r" % v["status"])
	check(x.record("pol")["handlerState"] == "Enabled" and fx.ext_dirs(x) == ["Cloudsim.Samples.Hello-1.0"] and
	      len(x.calls("Hello")) == calls, "the block changed the installed extension: %r %r"
	      % (x.record("pol"), x.calls("Hello")[calls:]))
	# Delete while blocked: always allowed.
	fx.undeploy(env, "pol")
	fx.wait_gone(env, "pol")
	check(fx.ext_dirs(x) == [] and [c.split()[0] for c in x.calls("Hello")[calls:]] == ["disable", "uninstall"],
	      "delete while blocked: %r %r" % (fx.ext_dirs(x), x.calls("Hello")[calls:]))
	agent(env, "")


def machine_report(env, ext, body):
	"""A status report sent as the machine itself (its certificate), through arcproxy."""
	own = fx.identity_dir(env.state_dir)
	r = fx.curl("-x", "http://127.0.0.1:%d" % env.arcproxy.port, "--cacert", env.sim.file("ca.crt"),
		    "--cert", os.path.join(own, "machine.crt"), "--key", os.path.join(own, "machine.key"),
		    "-X", "PUT", "-H", "Content-Type: application/json", "--data-binary", json.dumps(body),
		    "-w", "\n%{http_code}", fx.CLOUD_URL + "/machines/%s/extensions/%s/status" % (env.machine, ext),
		    timeout=30)
	check(r.returncode == 0 and r.stdout.decode().endswith("\n200"), "machine report: %r" % r.stdout[-300:])


@test(timeout=90)
def disabled_the_cloud_removes_nothing_but_a_local_remove_works(env):
	x = env.extmgr
	agent(env, "")
	v = fx.deploy(env, "pol", "hello", settings={"caFile": env.sim.file("ca.crt"), "bytes": 7})
	fx.wait_status(env, "pol", v["sequenceNumber"], operation="Enable")
	agent(env, 'extensions = { enabled = false; };\n')
	calls = len(x.calls("Hello"))
	# The cloud's delete: refused, reported, nothing run.
	fx.undeploy(env, "pol")
	v = fx.wait_status(env, "pol", fx.view(env, "pol")["sequenceNumber"], status=("error",),
			   operation="Uninstall")
	check("refused by the local setting extensions.enabled = false" in v["status"]["message"],
	      "delete while disabled: %r" % v["status"])
	# The cloud forgets it (as after an uninstall reported elsewhere): still nothing is run.
	machine_report(env, "pol", {"sequenceNumber": v["sequenceNumber"], "version": "1.0",
				    "operation": "Uninstall", "status": "success", "code": 0, "message": "forged",
				    "handlerState": "NotInstalled"})
	fx.wait_gone(env, "pol")
	n = passes(x)
	check(poll(lambda: passes(x) >= n + 2, timeout=10), "no pass")
	check(fx.ext_dirs(x) == ["Cloudsim.Samples.Hello-1.0"] and len(x.calls("Hello")) == calls,
	      "a handler ran while extensions.enabled = false: %r %r" % (fx.ext_dirs(x), x.calls("Hello")[calls:]))
	# The operator's own removal on the machine still works.
	r = fx.azcm(env, "extension", "remove", "pol")
	check(r.returncode == 0 and "pol removed" in r.stdout, "extension remove: %d %s%s"
	      % (r.returncode, r.stdout, r.stderr))
	check([c.split()[0] for c in x.calls("Hello")[calls:]] == ["disable", "uninstall"] and fx.ext_dirs(x) == [],
	      "local remove while disabled: %r %r" % (x.calls("Hello")[calls:], fx.ext_dirs(x)))
	agent(env, "")


@test(timeout=120)
def blocked_during_the_download_installs_nothing(env):
	x = env.extmgr
	agent(env, "")
	ran = os.path.join(env.tmp, "blockdl-ran")
	d = fx.handler_dir(env, "blockdl", {
		"HandlerManifest.json": (json.dumps([{"name": "BlockDl", "version": 1.0, "handlerManifest": {
			"installCommand": "touch %s" % ran, "enableCommand": "touch %s" % ran,
			"updateCommand": "true", "disableCommand": "true", "uninstallCommand": "true"}}]), 0o644)})
	with open(os.path.join(d, "payload.bin"), "wb") as f:
		for _ in range(96):
			f.write(os.urandom(1 << 20))
	fname = fx.publish(env, None, "1.0", handler_dir=d, type_name="BlockDl")
	part = x.own("downloads", fname + ".part")
	v = fx.deploy(env, "blockdl", type_name="BlockDl")
	check(poll(lambda: os.path.exists(part) and os.path.getsize(part) > (1 << 20), timeout=30, interval=0.02),
	      "the download did not start\n" + x.stderr_tail())
	# The operator blocks it while it downloads: the pass under way must not install it.
	env.agent_text = 'extensions = { blocklist = [ "Cloudsim.Samples/BlockDl" ]; };\n'
	x.write_agent_conf(env.agent_text)
	x.reload()
	check(os.path.exists(part) and os.path.getsize(part) < os.path.getsize(fx.package_path(env, fname)),
	      "the download had finished before the block: the test tested nothing")
	v = fx.wait_status(env, "blockdl", v["sequenceNumber"], status=("error",), timeout=60)
	check("refused by the local setting extensions.blocklist" in v["status"]["message"],
	      "after the block: %r" % v["status"])
	check(not os.path.exists(ran) and fx.ext_dirs(x) == [], "installed though blocked: ran=%s dirs=%r"
	      % (os.path.exists(ran), fx.ext_dirs(x)))
	fx.undeploy(env, "blockdl")
	fx.wait_gone(env, "blockdl")
	agent(env, "")
