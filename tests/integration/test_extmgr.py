"""extmgr end to end: real extensions installed from cloudsim's package store through arcproxy and the gateway.

Expectations:
- The Hello sample's enable runs plain `curl https://echo.cloudsim.test/bytes/N` (no proxy flag):
  it succeeds because extmgr gives every handler HTTPS_PROXY; arcproxy's access log shows the
  tunnel to echo.cloudsim.test on the gateway route; the operator sees success with the message.
- The Token sample gets a managed-identity token through himds's challenge.
- An enable over its time limit is killed with its children, and Timeout(N) is reported; a
  handler that writes an error status has it reported with its code.
- An upgrade from 1.0 to 1.1 calls the handlers in the VM agent's order; a failing disable of the
  old version aborts the upgrade (1.0 stays).
- Delete runs disable and uninstall and the cloud forgets the extension.
- extmgr killed with SIGKILL mid-install converges when restarted; nothing is stuck transitioning.
- azcmagent extension list shows what is installed; extension remove removes it locally.
"""

import json
import os
import re
import signal
import time

import fx_extmgr as fx
from harness import check, poll, test


def setup():
	return fx.extmgr_env()


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
