"""A security review of extmgr: what the cloud (or a local user) could get past it, one test each.

Expectations: a package that the blocklist refuses cannot be installed by naming it, in the goal
state, by another type of the same publisher (the signature binds the publisher only; the
manifest's "name", inside the signed zip, binds the type).
"""

import os

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


def agent(env, text):
	"""agent.conf, then SIGHUP; returns once a pass has begun with it."""
	x = env.extmgr
	x.write_agent_conf(text)
	n = x.stderr_text().count("goal state ")
	x.reload()
	check(poll(lambda: x.stderr_text().count("goal state ") >= n + 2, timeout=10),
	      "extmgr made no pass after SIGHUP\n" + x.stderr_tail())


@test(timeout=90)
def a_blocklisted_package_under_another_type_is_refused(env):
	x = env.extmgr
	agent(env, 'extensions = { blocklist = [ "Cloudsim.Samples/Hello" ]; };\n')
	# The publisher's own signed Hello package, published by the cloud as type "Renamed".
	fx.publish(env, "hello", "1.0", type_name="Renamed")
	calls = len(x.calls("Renamed"))
	seq = fx.deploy(env, "renamed", type_name="Renamed", settings={"caFile": env.sim.file("ca.crt")})["sequenceNumber"]

	def settled():
		s = (fx.view(env, "renamed") or {}).get("status") or {}
		return s if s.get("sequenceNumber") == seq and s.get("status") in ("error", "success") else None
	s = poll(settled, timeout=40, interval=0.2)
	check(s, "no final report: %r\n%s" % (fx.view(env, "renamed"), x.stderr_tail(30)))
	check(s["status"] == "error" and s["code"] == 1003 and 'names the type "Hello"' in s["message"],
	      "the renamed Hello package was not refused: %r" % s)
	check(len(x.calls("Renamed")) == calls, "Hello's handler ran: %r" % x.calls("Renamed")[calls:])
	check(fx.ext_dirs(x) == [], "left unpacked: %r" % fx.ext_dirs(x))
	fx.undeploy(env, "renamed")
	fx.wait_gone(env, "renamed")
	agent(env, "")


def final(env, ext, seq, timeout=40):
	"""The first report of ext for seq that is an error or a success."""
	def settled():
		s = (fx.view(env, ext) or {}).get("status") or {}
		return s if s.get("sequenceNumber") == seq and s.get("status") in ("error", "success") else None
	s = poll(settled, timeout=timeout, interval=0.2)
	check(s, "%s: no final report: %r\n%s" % (ext, fx.view(env, ext), env.extmgr.stderr_tail(30)))
	return s


@test(timeout=120)
def a_second_extension_of_the_same_handler_is_refused(env):
	x = env.extmgr
	agent(env, "")
	v = fx.deploy(env, "first", "hello", settings={"caFile": env.sim.file("ca.crt")})
	fx.wait_status(env, "first", v["sequenceNumber"], operation="Enable")
	# The same Publisher/Type under another name: its unpack would replace first's directory, and
	# its delete remove it.
	v = fx.deploy(env, "second", "hello", settings={"caFile": env.sim.file("ca.crt")})
	s = final(env, "second", v["sequenceNumber"])
	check(s["status"] == "error" and "extension first already holds the handler" in s["message"],
	      "second was not refused: %r" % s)
	fx.undeploy(env, "second")
	fx.wait_gone(env, "second")
	check(fx.ext_dirs(x) == ["Cloudsim.Samples.Hello-1.0"], "first's handler is gone: %r" % fx.ext_dirs(x))
	check(os.path.isfile(x.own("extensions", "Cloudsim.Samples.Hello-1.0", "HandlerManifest.json")),
	      "first's handler directory was emptied")
	check((x.record("first") or {}).get("handlerState") == "Enabled", "first: %r" % x.record("first"))
	fx.undeploy(env, "first")
	fx.wait_gone(env, "first")
