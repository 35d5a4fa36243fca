"""A security review of extmgr: what the cloud (or a local user) could get past it, one test each.

Expectations: a package that the blocklist refuses cannot be installed by naming it, in the goal
state, by another type of the same publisher: its signature names the type and version it was
signed as, so the cloud's catalog entry for another type (or version) that points at it is refused
before anything is unpacked (Verify, code 1004), even when its manifest does not name its type; a
package that its publisher signed under the wrong type is refused by its manifest's "name" (1003).
"""

import json
import os
import shutil

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


def nameless_handler(env):
	"""The hello sample with a manifest that does not name its type (as a future format might not)."""
	d = os.path.join(env.tmp, "nameless")
	shutil.rmtree(d, ignore_errors=True)
	shutil.copytree(os.path.join(fx.SAMPLES, "hello"), d)
	shutil.copy2(os.path.join(fx.SAMPLES, "common.sh"), d)
	path = os.path.join(d, "HandlerManifest.json")
	with open(path) as f:
		manifest = json.load(f)
	del manifest[0]["name"]
	with open(path, "w") as f:
		json.dump(manifest, f)
	return d


def refused_before_unpack(env, ext, type_name, version, needle):
	"""Deploys ext as type_name at version: refused at Verify with code 1004 and needle, with nothing
	unpacked and no handler run."""
	x = env.extmgr
	seq = fx.deploy(env, ext, type_name=type_name, version=version,
			settings={"caFile": env.sim.file("ca.crt")})["sequenceNumber"]
	s = final(env, ext, seq)
	check(s["status"] == "error" and s["code"] == 1004 and s["operation"] == "Verify" and needle in s["message"],
	      "%s was not refused by its signature: %r" % (ext, s))
	check(not x.calls(type_name), "a handler ran: %r" % x.calls(type_name))
	check(fx.ext_dirs(x) == [], "left unpacked: %r" % fx.ext_dirs(x))
	check(os.listdir(x.own("downloads")) == [], "downloads left: %r" % os.listdir(x.own("downloads")))
	fx.undeploy(env, ext)
	fx.wait_gone(env, ext)


@test(timeout=120)
def a_package_recatalogued_under_another_type_is_refused(env):
	agent(env, 'extensions = { blocklist = [ "Cloudsim.Samples/Plain", "Cloudsim.Samples/Hello" ]; };\n')
	# The publisher's blocklisted Plain, whose manifest does not say it is Plain, catalogued by the
	# cloud as type Alias: only the signature still says what it is.
	fname = fx.publish(env, "hello", "1.0", handler_dir=nameless_handler(env), type_name="Plain")
	fx.recatalog(env, fname, type_name="Alias")
	refused_before_unpack(env, "alias", "Alias", "1.0", "package verification failed: signature: signed as "
			      "type Plain, not Alias")
	# The genuine Hello package under another type: the signature refuses it before its manifest is
	# read.
	fx.recatalog(env, "Cloudsim.Samples.Hello-1.0.zip", type_name="Renamed2")
	refused_before_unpack(env, "renamed2", "Renamed2", "1.0", "signature: signed as type Hello, not Renamed2")
	agent(env, "")


@test(timeout=90)
def a_package_recatalogued_as_another_version_is_refused(env):
	agent(env, "")
	# Hello 1.0's zip and signature as the catalog's Hello 1.9.
	fx.recatalog(env, "Cloudsim.Samples.Hello-1.0.zip", version="1.9")
	refused_before_unpack(env, "hello19", "Hello", "1.9", "signature: signed as version 1.0, not 1.9")


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
