"""The appliance behind a restrictive firewall (issue 14): the machine in its own network namespace, whose only way out is the gateway.

Topology (netns.py): arc-cloud-<id> holds cloudsim (the gateway on 198.18.0.1:8443, echo on
198.18.0.1:443, the operator API on its own loopback); arc-machine-<id> (198.18.0.10) runs arcproxy
and himds as their own users, resolves *.cloudsim.test to 198.18.0.1 from its hosts file, and its
nftables output chain drops everything but loopback and new TCP connections from user arcproxy to
198.18.0.1:8443, counting the drops per user (arcproxy, himds, root, others).

Expectations, variant A (only the gateway is reachable):
- `azcmagent connect` inside the machine succeeds, `azcmagent show -j` says Connected, and the
  operator API shows a heartbeat sent after connect.
- A token through himds's challenge (401, read the key file, retry) comes from the cloud.
- `curl https://echo.cloudsim.test/` through arcproxy works; what the gateway does not carry it
  refuses (403) without trying; with `--noproxy '*'` echo cannot be reached, though
  echo answers inside the cloud; connections as root and as himds straight to 198.18.0.1:443 and
  :8443 fail, and the firewall's drop counters for root and himds show them; the drop counter of
  arcproxy's uid stays 0.
- Step 3: the Hello sample extension (samples/extensions/hello), signed into cloudsim's package
  store and deployed through the operator API, is downloaded and enabled by extmgr (root); its
  enable step fetches https://echo.cloudsim.test/ with plain curl (the proxy comes from the
  environment extmgr gives it); the operator API shows the successful Enable.
- Step 4: a guest configuration (one file kept in place, packed with `cloudsim gc-pack`) assigned
  through the operator API is downloaded, applied and reported Compliant by guestconfig (root).
  Neither step moves a drop counter: extmgr, the handler and guestconfig, all root, never try
  another way out.
- arcproxy's access log shows every destination it served (management, echo, packages) going
  through the gateway.
Variant C (the gateway goes away), on the same machine:
- cloudsim stopped inside its namespace: arcproxy's /healthz says the gateway is down and why,
  `azcmagent show -j` says Disconnected with himds's reason; arcproxy backs off (a handful of new
  connections to the gateway in the window, never a burst), so does arcnotify (growing waits
  between its refused tries), and no drop counter moves (nothing tries another route).
- cloudsim started again: heartbeats reach the operator API again, /healthz is up, a token comes
  from the cloud, the extension setting and the assignment queued just before the outage are
  enabled and reported, arcnotify's channel is up again, and arcproxy, himds, arcnotify, extmgr
  and guestconfig are the same processes.
Cleanup: the namespaces go at teardown, even after a failure; a killed run's (named for a pid
that is gone) are removed by the next run, with whatever still runs inside; a live run's stay.
Skips, with the reason, when not root or when ip netns / nft cannot be used here.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import fixtures
import harness
import netns
from harness import Skip, check, poll, test

# run.py may run this module beside others, one module of the lane "netns" at a time (each
# boots a whole appliance in namespaces of its own).
PARALLEL = "netns"

TOKEN_PATH = fixtures.TOKEN
CA_ARGS = None


class Env:
	def __init__(self):
		self.skip = None
		self.topo = None
		self.app = None
		self.proxy = None	# run.py prints its stderr when a test fails
		self.work = None
		self.connected_at = None
		self.problems = []


def fw_env(variant="A", name="fw-a"):
	"""The topology, the firewall of the variant ("A": the gateway, "B": the Squid) and the
	appliance started (not connected). A setup that cannot build it returns an env whose
	tests skip with the reason."""
	env = Env()
	env.skip = netns.unavailable()
	if env.skip:
		return env
	env.topo = netns.Topology()
	try:
		env.topo.create()
		env.work = tempfile.mkdtemp(prefix="firewall-", dir=harness.tmp_root())
		os.chmod(env.work, 0o755)
		app = env.app = netns.Appliance(env.topo, harness.BIN_DIR, env.work,
						pki=os.path.join(fixtures.shared_pki(), "pki"), name=name)
		netns.ensure_users()
		if variant == "B":
			env.topo.load_firewall(netns.ruleset(netns.SQUID_IP, netns.SQUID_PORT))
		else:
			env.topo.load_firewall(netns.ruleset())
		app.start_cloudsim()
		if variant == "B":
			app.start_squid()
		app.start_machine()
		env.proxy = app.arcproxy
	except BaseException:
		stop_fw_env(env)
		raise
	return env


def stop_fw_env(env):
	"""Stop the daemons (each must exit 0), remove the namespaces and the work dir."""
	problems = list(env.problems)
	if env.app is not None:
		for p in env.app.procs():
			crashed = p.proc.poll()
			rc = p.stop()
			if crashed is not None and crashed != 0 and not getattr(p, "stopped", False):
				problems.append("%s had exited with status %s\n%s" % (p.name, crashed, p.tail()))
			elif crashed is None and rc != 0:
				problems.append("%s exited %s on SIGTERM\n%s" % (p.name, rc, p.tail()))
			m = re.search(r"(ERROR: \w+Sanitizer|runtime error:).*", p.text())
			if m:
				problems.append("%s sanitizer: %s\n%s" % (p.name, m.group(0), p.tail(40)))
	if env.topo is not None:
		env.topo.destroy()
	if env.work and not harness.KEEP and not problems:
		shutil.rmtree(env.work, ignore_errors=True)
	return problems


def setup():
	return fw_env("A")


def teardown(env):
	return stop_fw_env(env)


def need(env):
	if env.skip:
		raise Skip(env.skip)
	check(env.app is not None, "the topology was not built")


# --- what the tests ask ---------------------------------------------------------

def azcm_json(app, *args):
	r = app.azcm(*args, "-j")
	try:
		return r.returncode, json.loads(r.stdout)
	except ValueError:
		return r.returncode, {"_stdout": r.stdout, "_stderr": r.stderr}


def heartbeat_after(app, t):
	"""The operator API's view of the machine once its lastHeartbeat is at or after t (epoch
	seconds, whole), else None."""
	status, m = app.operator("GET", "/operator/machines/" + app.name)
	if status != 200 or not m or not m.get("lastHeartbeat"):
		return None
	when = time.mktime(time.strptime(m["lastHeartbeat"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
	return m if when >= int(t) else None


def curl_i(app, *args, user=None):
	"""curl -i inside the machine: (curl exit, status, {header: value}, body)."""
	r = app.machine_curl("-i", "-m", "15", *args, user=user, text=False)
	if r.returncode != 0:
		return r.returncode, None, {}, r.stderr.decode("utf-8", "replace")
	status, hdrs, body = fixtures.parse_curl_i(r.stdout.decode("utf-8", "replace"))
	return 0, status, hdrs, body


def token(app):
	"""The managed-identity token as a script inside the machine gets it: 401, the key file
	the realm names (root may read it), the request again with its content."""
	url = "http://127.0.0.1:40342" + TOKEN_PATH
	rc, status, hdrs, body = curl_i(app, "-H", "Metadata: true", url)
	check(rc == 0 and status == 401, "first token request: curl %d, status %s %s" % (rc, status, body))
	key = fixtures.read_key(fixtures.realm_path(hdrs.get("www-authenticate")))
	rc, status, hdrs, body = curl_i(app, "-H", "Metadata: true", "-H", "Authorization: Basic " + key, url)
	check(rc == 0, "token request: curl %d: %s" % (rc, body))
	return status, body


def echo_via_proxy(app, user=None):
	return app.machine_curl("-m", "15", "-x", "http://127.0.0.1:40343", "--cacert",
				os.path.join(app.etc, "ca.crt"), "https://echo.cloudsim.test/", user=user)


def dropped(env, user, dest, counter):
	"""A TCP connection from user (None: root) straight to dest fails, and counter rises."""
	before = env.topo.counters()[counter]
	r = env.app.machine_curl("--noproxy", "*", "--connect-timeout", "0.5", "-m", "1", "-k",
				 "https://%s/" % dest, user=user)
	check(r.returncode != 0, "%s reached %s straight past the firewall" % (user or "root", dest))
	after = env.topo.counters()[counter]
	check(after > before, "%s's connection to %s failed (%s) but %s did not count it (%d -> %d)"
	      % (user or "root", dest, r.stderr.strip(), counter, before, after))


def connected(env):
	"""Connect once (the first test that needs it), or skip as that test did."""
	need(env)
	if env.connected_at is None:
		env.connected_at = time.time()
		r = env.app.connect()
		if r.returncode != 0:
			env.connected_at = -1
		check(r.returncode == 0, "azcmagent connect inside %s: exit %d: %s\n%s" % (
			env.topo.machine, r.returncode, r.stderr.strip(), env.app.arcproxy.tail()))
	check(env.connected_at > 0, "azcmagent connect failed in an earlier test")


# --- variant A -------------------------------------------------------------------

@test(timeout=40)
def connect_and_heartbeat(env):
	connected(env)
	app = env.app
	m = poll(lambda: heartbeat_after(app, env.connected_at), timeout=15, interval=0.3)
	check(m, "no heartbeat after connect in the operator API: %r\n%s" % (
		app.operator("GET", "/operator/machines/" + app.name), app.himds.tail()))
	check(m["status"] == "Connected", "operator API: %r" % m)
	rc, show = poll(lambda: (lambda r: r if r[1].get("status") == "Connected" else None)(
		azcm_json(app, "show")), timeout=10, interval=0.3) or azcm_json(app, "show")
	check(rc == 0 and show.get("status") == "Connected", "azcmagent show -j: exit %d %r" % (rc, show))


@test(timeout=30)
def token_through_challenge(env):
	connected(env)
	status, body = token(env.app)
	check(status == 200, "token: status %d: %s" % (status, body))
	tok = json.loads(body)
	check(tok.get("access_token", "").count(".") == 2 and tok.get("resource") == fixtures.RESOURCE,
	      "token answer: %r" % tok)


# Destinations off the gateway's endpoint list: the Squid's address, the cloud's echo port by
# address, a name nobody serves.
NOT_CARRIED = ["%s:%d" % (netns.SQUID_IP, netns.SQUID_PORT), "%s:443" % netns.CLOUD_IP, "example.test:443"]


@test(timeout=40)
def no_other_way_out(env):
	connected(env)
	app = env.app
	r = echo_via_proxy(app)
	check(r.returncode == 0 and '"method":"GET"' in r.stdout,
	      "curl -x arcproxy https://echo.cloudsim.test/: exit %d: %s" % (r.returncode, r.stderr))
	# echo and the gateway answer inside the cloud: only the firewall stops the machine.
	for port in (443, netns.GATEWAY_PORT):
		r = env.topo.run("cloud", ["curl", "-sS", "-k", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
					   "https://%s:%d/" % (netns.CLOUD_IP, port)])
		check(r.stdout.strip() not in ("", "000"), "nothing answers on %s:%d in the cloud: %s"
		      % (netns.CLOUD_IP, port, r.stderr))
	r = app.machine_curl("--noproxy", "*", "--connect-timeout", "1", "-m", "2", "--cacert",
			     os.path.join(app.etc, "ca.crt"), "https://echo.cloudsim.test/")
	check(r.returncode != 0, "curl --noproxy '*' https://echo.cloudsim.test/ reached it: %s" % r.stdout[:200])
	for user, counter in ((None, "drop_root"), ("himds", "drop_himds")):
		for port in (443, netns.GATEWAY_PORT):
			dropped(env, user, "%s:%d" % (netns.CLOUD_IP, port), counter)
	# Asked for what the gateway does not carry, arcproxy refuses it rather than trying it.
	for dest in NOT_CARRIED:
		r = app.machine_curl("-m", "5", "-k", "-x", "http://127.0.0.1:40343", "-o", "/dev/null",
				     "https://%s/" % dest)
		check(r.returncode != 0 and "403" in r.stderr, "arcproxy did not refuse %s: %s" % (dest, r.stderr))
	c = env.topo.counters()
	check(c["drop_arcproxy"] == 0, "arcproxy's uid had packets dropped: %r" % c)
	check(c["allow_arcproxy"] >= 1, "arcproxy's connections to the gateway were not counted: %r" % c)


# --- steps 3 and 4: an extension and a guest configuration through the gateway ------------

SAMPLES = harness.REPO / "samples" / "extensions"


def agentlets(env):
	"""Connected, with extmgr and guestconfig running in the machine (started once)."""
	connected(env)
	app = env.app
	if app.extmgr is None:
		for name in ("extmgr", "guestconfig"):
			check(os.path.exists(os.path.join(app.bin, name)), "%s is not built in %s" % (name, app.bin))
		ca = os.path.join(app.etc, "packages-ca.crt")
		check(os.path.exists(ca), "azcmagent connect did not write %s" % ca)
		app.start_agentlets()


def store(app):
	return os.path.join(app.cloud_dir, "packages")


def cloudsim_cmd(app, *args):
	r = subprocess.run([os.path.join(app.bin, "cloudsim"), *args], capture_output=True, text=True, timeout=60)
	check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (args[0], r.returncode, r.stderr.strip()))


def pack_hello(app, version):
	"""samples/extensions/hello (enable: plain curl to echo) signed into the package store."""
	src = os.path.join(app.work, "hello-src")
	if not os.path.isdir(src):
		shutil.copytree(SAMPLES / "hello", src)
		shutil.copy(SAMPLES / "common.sh", os.path.join(src, "common.sh"))
	cloudsim_cmd(app, "ext-pack", src, "--publisher", "Cloudsim.Samples", "--type", "Hello", "--version",
		     version, "-o", store(app), "--pki", app.pki)


def put_extension(app, name, version, nbytes):
	status, view = app.operator("PUT", "/operator/machines/%s/extensions/%s" % (app.name, name), {
		"publisher": "Cloudsim.Samples", "type": "Hello", "version": version,
		"publicSettings": {"bytes": nbytes, "caFile": os.path.join(app.etc, "ca.crt")}})
	check(status in (200, 201), "PUT extension %s: %d %r" % (name, status, view))
	return view["sequenceNumber"]


def extension_enabled(app, name, seq):
	"""The extension's view once its last report is a successful Enable of sequence seq."""
	status, view = app.operator("GET", "/operator/machines/%s/extensions/%s" % (app.name, name))
	st = (view or {}).get("status") or {}
	if status == 200 and st.get("sequenceNumber") == seq and st.get("operation") == "Enable" and \
	   st.get("status") == "success":
		return view
	return None


def pack_config(app, name, version, path, content):
	"""A guest configuration that keeps one file (path, content) in place, packed with gc-pack:
	(contentUri, contentHash)."""
	src = os.path.join(app.work, "%s-%s.src.json" % (name, version))
	netns.write(src, json.dumps({"schemaVersion": 1, "name": name, "resources": [
		{"id": "marker", "type": "file", "properties": {"path": path, "content": content, "mode": "0644",
								  "owner": "root"}}]}))
	cloudsim_cmd(app, "gc-pack", src, "--name", name, "--version", version, "-o", store(app), "--pki", app.pki)
	with open(os.path.join(store(app), "%s-%s.json" % (name, version))) as f:
		entry = json.load(f)
	return "https://packages.cloudsim.test/packages/" + entry["file"], entry["sha256"]


def put_assignment(app, name, uri, sha):
	status, body = app.operator("PUT", "/operator/machines/%s/guestConfigurationAssignments/%s" % (app.name, name),
				    {"contentUri": uri, "contentHash": sha, "assignmentType": "ApplyAndAutoCorrect",
				     "configurationParameter": []})
	check(status in (200, 201), "PUT assignment %s: %d %r" % (name, status, body))


def compliant(app, name, path, content):
	"""The assignment's latest report once it is Compliant and the file is in place."""
	status, a = app.operator("GET", "/operator/machines/%s/guestConfigurationAssignments/%s" % (app.name, name))
	rep = (a or {}).get("latestReport") or {}
	if status == 200 and rep.get("complianceStatus") == "Compliant" and os.path.exists(path):
		with open(path) as f:
			return rep if f.read() == content else None
	return None


def quiet_counters(env, before, what):
	"""Nothing was dropped since before (root runs extmgr, the handlers and guestconfig)."""
	after = env.topo.counters()
	for name in ("drop_arcproxy", "drop_himds", "drop_root", "drop_other"):
		check(after[name] == before[name], "%s: %s moved %d -> %d: something tried another way out"
		      % (what, name, before[name], after[name]))


@test(timeout=60)
def extension_enable_runs_plain_curl(env):
	agentlets(env)
	app = env.app
	before = env.topo.counters()
	pack_hello(app, "1.0")
	seq = put_extension(app, "hello", "1.0", 1000)
	view = poll(lambda: extension_enabled(app, "hello", seq), timeout=40, interval=0.3)
	check(view, "the extension was not enabled: %r\n%s" % (
		app.operator("GET", "/operator/machines/%s/extensions/hello" % app.name), app.extmgr.tail()))
	msg = json.dumps(view["status"])
	check("fetched 1000 bytes from https://echo.cloudsim.test/bytes/1000" in msg,
	      "enable's curl did not fetch through the proxy it was given: %s" % msg)
	quiet_counters(env, before, "the extension's download and enable")


@test(timeout=60)
def guest_configuration_evaluated_and_reported(env):
	agentlets(env)
	app = env.app
	before = env.topo.counters()
	target = os.path.join(app.work, "gc-marker")
	uri, sha = pack_config(app, "fwmarker", "1.0.0", target, "firewalled\n")
	put_assignment(app, "fwmarker", uri, sha)
	rep = poll(lambda: compliant(app, "fwmarker", target, "firewalled\n"), timeout=40, interval=0.3)
	check(rep, "no Compliant report with the file in place: %r\n%s" % (
		app.operator("GET", "/operator/machines/%s/guestConfigurationAssignments/fwmarker" % app.name),
		app.guestconfig.tail()))
	quiet_counters(env, before, "the assignment's download, evaluation and report")


@test(timeout=30)
def access_log_all_through_gateway(env):
	"""After the steps above: every destination arcproxy served went through the gateway, the
	package store's among them when the agentlets ran."""
	connected(env)
	app = env.app
	r = echo_via_proxy(app)
	check(r.returncode == 0, "curl through arcproxy: %s" % r.stderr)
	want = {"echo.cloudsim.test:443", "management.cloudsim.test:443"}
	if app.extmgr is not None:
		want.add("packages.cloudsim.test:443")

	def lines():
		got = [ln.split() for ln in app.access_log()]
		return got if want <= {f[3] for f in got if len(f) > 4} else None
	got = poll(lines, timeout=10, interval=0.3)
	check(got, "arcproxy's access log lacks one of %s: %r" % (sorted(want), app.access_log()))
	for f in got:
		if len(f) > 5 and f[3] in NOT_CARRIED and f[4:6] == ["deny", "403"]:
			continue	# no_other_way_out's refused requests
		check(len(f) > 4 and f[4] == "gateway" and re.fullmatch(r"[a-z.]+\.cloudsim\.test:443", f[3]),
		      "an access-log line not through the gateway: %s" % " ".join(f))


@test(timeout=40)
def arcproxy_restarted_as_root_opens_nothing_as_root(env):
	"""arcproxy started as root with gateway mode already configured (a restart after connect,
	as `make run` or an init script does it) opens its gateway connections as its own user: the
	firewall drops nothing of root's, and the gateway route is up at once, not after a
	connect timeout and a retry."""
	connected(env)
	app = env.app
	before = env.topo.counters()
	# Killed, not drained: arcnotify's channel is a live tunnel that SIGTERM would wait for.
	app.arcproxy.proc.kill()
	app.arcproxy.stop()
	app.arcproxy = netns.Proc("arcproxy", env.topo, "machine",
				  [os.path.join(app.bin, "arcproxy"), "-d"] + app.dirs,
				  os.path.join(app.work, "arcproxy.log"))
	env.proxy = app.arcproxy
	app.wait_machine_port(app.arcproxy, 40343, 10)

	def up():
		status, body = app.admin("/healthz")
		try:
			return ((json.loads(body).get("gateway") or {}).get("state") == "up") or None
		except ValueError:
			return None
	check(poll(up, timeout=4, interval=0.1), "the gateway route was not up within 4 s of the "
	      "restart: %r\n%s" % (app.admin("/healthz"), app.arcproxy.tail()))
	r = echo_via_proxy(app)
	check(r.returncode == 0, "curl through the restarted arcproxy: %s" % r.stderr)
	after = env.topo.counters()
	check(after["drop_root"] == before["drop_root"],
	      "the restarted arcproxy had root's packets dropped: %r -> %r" % (before, after))


# --- variant C: the gateway goes away and comes back ---------------------------------

OUTAGE_WINDOW = 3.0


@test(timeout=90)
def gateway_outage_and_recovery(env):
	connected(env)
	app, topo = env.app, env.topo
	machine = [p for p in (app.arcproxy, app.himds, app.arcnotify, app.extmgr, app.guestconfig)
		   if p is not None]
	channel_ups = len(re.findall(r"notification channel up", app.arcnotify.text())) if app.arcnotify else 0
	pids = [p.pid for p in machine]
	check(poll(lambda: heartbeat_after(app, env.connected_at), timeout=10, interval=0.3),
	      "no heartbeat before the outage")
	queued = None
	paused = [p for p in (app.extmgr, app.guestconfig) if p is not None]
	try:
		if paused:
			# Work queued in the cloud just before it goes away, which the machine has not
			# fetched yet (its agentlets held still meanwhile, not restarted): a new setting
			# for the extension and a new assignment, both for after the outage.
			for p in paused:
				os.kill(p.pid, signal.SIGSTOP)
			target = os.path.join(app.work, "gc-queued")
			uri, sha = pack_config(app, "fwqueued", "1.0.0", target, "queued\n")
			queued = (put_extension(app, "hello", "1.0", 2000), target)
			put_assignment(app, "fwqueued", uri, sha)
		before = topo.counters()
		rc = app.cloudsim.stop()
	finally:
		for p in paused:
			os.kill(p.pid, signal.SIGCONT)
	check(rc == 0, "cloudsim exited %s on SIGTERM\n%s" % (rc, app.cloudsim.tail()))
	down_at = time.time()

	def health_down():
		status, body = app.admin("/healthz")
		try:
			h = json.loads(body)
		except ValueError:
			return None
		gw = h.get("gateway") or {}
		return h if gw.get("state") != "up" and gw.get("last_error") else None
	h = poll(health_down, timeout=10, interval=0.2)
	check(h, "/healthz does not say the gateway is down: %r" % (app.admin("/healthz"),))
	check(re.search(r"refused|connect|closed|reset|unreachable", h["gateway"]["last_error"], re.I),
	      "/healthz's reason: %r" % h["gateway"])

	def show_down():
		rc, s = azcm_json(app, "show")
		return s if s.get("status") == "Disconnected" and s.get("lastError") else None
	s = poll(show_down, timeout=10, interval=0.3)
	check(s, "azcmagent show -j does not say Disconnected and why: %r" % (azcm_json(app, "show"),))
	gw = (s.get("arcproxy") or {}).get("gateway") or {}
	check(str(s.get("gatewayState", "")).startswith("down") and gw.get("lastError") and gw.get("backingOff"),
	      "azcmagent show -j: the gateway is not down and backing off, with a reason: %r" % s)
	text = app.azcm("show").stdout
	check(re.search(r"Agent Status: Disconnected", text) and re.search(r"Agent Error: \S", text) and
	      re.search(r"Gateway State: down.*\S", text), "azcmagent show does not say why:\n%s" % text)

	# The window: arcproxy retries the gateway with a growing back-off (0.5 s, 1 s, 2 s, ...),
	# nothing goes elsewhere.
	time.sleep(max(0.0, down_at + OUTAGE_WINDOW - time.time()))
	end = topo.counters()
	window = time.time() - down_at
	tries = end["allow_arcproxy"] - before["allow_arcproxy"]
	check(1 <= tries <= 3 + window / 2, "%d new connections to the gateway in %.1f s of outage: %s"
	      % (tries, window, "no retry" if tries < 1 else "no back-off"))
	for name in ("drop_arcproxy", "drop_himds", "drop_root", "drop_other"):
		check(end[name] == before[name], "during the outage %s moved %d -> %d: something tried another "
		      "route" % (name, before[name], end[name]))

	back = time.time()
	app.start_cloudsim()
	m = poll(lambda: heartbeat_after(app, back + 1), timeout=25, interval=0.3)
	check(m, "no heartbeat after cloudsim came back\n%s\n%s" % (app.himds.tail(), app.arcproxy.tail()))
	status, body = app.admin("/healthz")
	check('"state":"up"' in body, "/healthz after recovery: %s" % body)
	status, body = token(app)
	check(status == 200, "token after recovery: %d %s" % (status, body))
	if queued:
		view = poll(lambda: extension_enabled(app, "hello", queued[0]), timeout=30, interval=0.3)
		check(view and "fetched 2000 bytes" in json.dumps(view["status"]),
		      "the extension's queued setting was not enabled after the outage: %r\n%s" % (
			      app.operator("GET", "/operator/machines/%s/extensions/hello" % app.name), app.extmgr.tail()))
		check(poll(lambda: compliant(app, "fwqueued", queued[1], "queued\n"), timeout=30, interval=0.3),
		      "the queued assignment was not evaluated and reported after the outage\n%s" % app.guestconfig.tail())
	if app.arcnotify is not None:
		check(poll(lambda: len(re.findall(r"notification channel up", app.arcnotify.text())) > channel_ups,
			   timeout=15, interval=0.3), "arcnotify's channel did not come back\n%s" % app.arcnotify.tail())
		# Its retries in the outage, each refused by arcproxy (the gateway is down), spaced
		# by a growing back-off.
		waits = [int(ms) for ms in re.findall(r"channel not up: .*arcproxy refused CONNECT.*again in (\d+) ms",
							    app.arcnotify.text())]
		check(len(waits) >= 2 and waits[-1] > waits[0], "arcnotify did not back off: %r\n%s"
		      % (waits, app.arcnotify.tail()))
	check(all(p.alive() for p in machine) and [p.pid for p in machine] == pids,
	      "a machine daemon was restarted or died: %s" % ", ".join(
		      "%s %s" % (p.name, "alive" if p.alive() else "exited %s" % p.proc.returncode) for p in machine))
	c = topo.counters()
	check(c["drop_arcproxy"] == 0, "arcproxy's uid had packets dropped: %r" % c)


# --- what a killed run leaves is removed by the next ------------------------------------

@test(timeout=20)
def sweep_removes_killed_runs(env):
	"""Namespaces named for a run whose pid is gone (with a process still inside and their
	/etc/netns entry) are removed by the next topology; those of a live run are kept."""
	need(env)
	gone = os.fork()	# a pid that no longer runs
	if gone == 0:
		os._exit(0)
	os.waitpid(gone, 0)
	names = {"dead": "arc-machine-%d-0dead0" % gone, "live": "arc-cloud-%d-0live0" % os.getpid()}
	sleeper = None
	try:
		for name in names.values():
			r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
			check(r.returncode == 0, "ip netns add %s: %s" % (name, r.stderr))
			os.makedirs("/etc/netns/" + name, exist_ok=True)
		sleeper = subprocess.Popen(["ip", "netns", "exec", names["dead"], "sleep", "30"])
		# Sweep only once the process is inside: one still entering (ip netns exec between
		# its pid listing and the namespace's removal) would outlive both, a race of the
		# test's, not of the sweep (it failed so under load).
		check(poll(lambda: str(sleeper.pid) in subprocess.run(
			["ip", "netns", "pids", names["dead"]], capture_output=True, text=True).stdout.split(),
			timeout=5), "the process never entered %s" % names["dead"])
		removed = netns.sweep()
		check(names["dead"] in removed and names["live"] not in removed, "sweep removed %r" % removed)
		listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
		check(names["dead"] not in listed and not os.path.exists("/etc/netns/" + names["dead"]),
		      "the dead run's namespace is still there:\n%s" % listed)
		check(names["live"] in listed, "the live run's namespace was removed")
		check(poll(lambda: sleeper.poll() is not None, timeout=5), "the process inside was not killed")
	finally:
		if sleeper is not None and sleeper.poll() is None:
			sleeper.kill()
			sleeper.wait()
		for name in names.values():
			subprocess.run(["ip", "netns", "del", name], capture_output=True)
			shutil.rmtree("/etc/netns/" + name, ignore_errors=True)


# --- the README's ruleset is the one tested ---------------------------------------------

@test(timeout=10)
def readme_ruleset_is_the_tested_one(env):
	"""README's "Behind a restrictive firewall" shows the ruleset these tests load, verbatim."""
	text = (harness.REPO / "README.md").read_text()
	m = re.search(r"^    table inet %s \{\n(?:    .*\n)*?    \}\n" % netns.TABLE, text, re.M)
	check(m, "README.md has no indented 'table inet %s { ... }' block" % netns.TABLE)
	shown = [ln[4:] for ln in m.group(0).splitlines()]
	tested = [ln for ln in netns.ruleset().splitlines() if not ln.startswith("#")]
	check(shown == tested, "README's ruleset differs from netns.ruleset():\n%s\n---\n%s"
	      % ("\n".join(shown), "\n".join(tested)))
