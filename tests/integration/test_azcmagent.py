"""azcmagent: the operator's command line, against arcproxy, cloudsim's gateway and its control plane.

Expectations:
- `version` and the usage mistakes: exit 0, or 23 with exactly one line on stderr (unknown command,
  unknown option, an option of another subcommand, no command).  The Azure agent's global flags
  --no-color and --log-stderr are accepted (and change nothing: --help says why), -v says on
  stderr which dirs and endpoints azcmagent uses and where they came from.
- `config list|get|set|clear|info` over agent.conf's table: every key listed with its default; good
  values of every type stored, read back (text and -j) and accepted by `arcproxy -n`; lists edited
  with --add/--remove; a bad key (23) names the valid keys, a bad value (23) names the valid values,
  gateway mode without gateway.url/ca_file is a conflict (27), so is editing
  extensions.allowlist/blocklist while config.mode is monitor (the lists are locked), and none of them changes the file; a
  running arcproxy is told to reload (its /healthz shows the new proxy.url).  Writing as someone who
  is neither root nor the config dir's owner is refused (18) and changes nothing.
- `config set` SIGKILLed at random moments leaves agent.conf byte-identical to the old or the new
  text, always loadable, with no temp file left once a later write has run.
- `show -j` without an identity: status Disconnected, a hint, "httpsProxy": "http://localhost:PORT",
  arcproxy running with its pid, himds stopped; the human form has "Using HTTPS Proxy: ...".
- `show` learns arcproxy's state from its GET /status: the routes arcproxy runs (not what
  arcproxy.conf says since), the default route, the gateway (down, with its URL and last error),
  the config generation (2 after SIGHUP).  With arcproxy stopped, show still answers (0) and says
  "arcproxy is not running"; check says so too, with exit code 4.
- `check`: arcproxy down -> 4; the gateway down -> 26 with both rows unreachable and the reason; after
  `config set gateway.url` to the live gateway -> 0, the cloud row reachable through the gateway route
  (from arcproxy's access log) with a TLS version, the gateway row reachable direct.
- `connect` refusals, each leaving agent.conf and the state dir as they were: missing or bad
  arguments (23), arcproxy not running (4), an identity present (67), the gateway down (26).
- A connect that fails after the cloud registered the machine deletes it there again: with
  <state>/himds not writable (1) the operator API has no such machine afterwards; a register answer
  that is not JSON, or whose certificate is not for the key (42), warns that the machine stays
  registered, why, and how to delete it.
- With cloudsim's control plane: a bad onboarding token -> 41, nothing written, arcproxy back to direct
  mode; `connect` registers through arcproxy and the gateway (the control plane sees no client
  certificate at the gateway hop: register is on its anonymous list), writes machine.key (0640),
  machine.crt and machine.json (API.md), switches agent.conf to the gateway, and the machine is
  visible in the operator API with its tags and location; `show -j` names the resource; `check` with
  no --cloud-url checks the cloud from machine.json; a second connect gets 67, the same name from
  another state dir 44.  With himds built: its heartbeat shows in the operator API and `show -j`
  reports Connected.
- `logs`: a tar.gz (0600) with summary.json, agent.conf, the access log, pid files and machine.json,
  and no private key (neither machine.key, nor tokens/*.key, nor a *.log symlink to the key).
- `disconnect` deletes the machine in the cloud (operator API 404) and the local identity; the gateway,
  which let that certificate through before, refuses it after (403); a second disconnect fails (1);
  `--force-local-only` removes an identity whose cloud is unreachable; without arcproxy running it
  exits 4 (as check and connect do) and keeps the identity.
"""

import http.client
import http.server
import json
import os
import pwd
import random
import re
import shutil
import signal
import ssl
import stat
import subprocess
import tarfile
import tempfile
import threading
import time

import harness
import test_cloudsim as tcs
from harness import Proxy, check, free_port, poll, test, wait_port

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

AZCMAGENT = harness.BIN_DIR / "azcmagent"
HIMDS = harness.BIN_DIR / "himds"
TOKEN = "azcm-it-onboarding-token"
NAME = "azcm-it-m1"
GW_HOSTS = [{"name": "gw.cloudsim.test", "address": "127.0.0.1"}]
KEYS = ["connection.type", "gateway.url", "gateway.ca_file", "gateway.protocol", "proxy.url",
	"proxy.bypass", "extensions.enabled", "extensions.allowlist", "extensions.blocklist",
	"guestconfiguration.enabled", "incomingconnections.enabled", "incomingconnections.ports",
	"config.mode"]


def new_sim():
	"""cloudsim whose management.cloudsim.test is its control plane, taking TOKEN."""
	sim = tcs.Sim()
	sim.control = {"onboarding_tokens": [TOKEN], "location": "simregion"}
	sim.management = "control"
	return sim


def operator(sim, method, path):
	"""cloudsim's operator API: (status, JSON body or None)."""
	c = http.client.HTTPConnection("127.0.0.1", sim.operator_port, timeout=5)
	try:
		c.request(method, path)
		r = c.getresponse()
		body = r.read()
		try:
			return r.status, json.loads(body)
		except ValueError:
			return r.status, None
	finally:
		c.close()


class Env:
	def __init__(self):
		self.sim = None
		self.proxy = None	# arcproxy in direct mode until connect (run.py prints its stderr)
		self.proxies = []
		self.user = harness._run_as()	# azcmagent and the daemons run as this user when root
		self.tmp = None		# a dir the user may write: token files, archives, other state dirs
		self.ca = None
		self.user_ca = None	# the CA in the user's folder (tmp)
		self.himds = None
		self.himds_port = None
		self.connected = False
		self.old_identity = None	# copies of machine.crt/.key from before disconnect


def conf_files(conf):
	"""What is in a config dir, less the writers' lock (.azcmagent.lock, the writer's 0600 file)."""
	return sorted(n for n in os.listdir(conf) if n != ".azcmagent.lock")


def own(env, *paths):
	for p in paths:
		if env.user:
			os.chown(p, env.user.pw_uid, env.user.pw_gid)


def run_kw(env):
	if not env.user:
		return {}
	return {"user": env.user.pw_uid, "group": env.user.pw_gid, "extra_groups": []}


def clean_environ():
	e = dict(os.environ)
	for k in ("ARC_PROXY_URL", "ARC_CONFIG_DIR", "ARC_STATE_DIR", "HTTPS_PROXY", "https_proxy",
		  "HTTP_PROXY", "http_proxy", "ALL_PROXY", "NO_PROXY"):
		e.pop(k, None)
	return e


def azcm(env, *args, proxy=None, conf=None, state=None, run=None, timeout=60, as_user=True, popen=False):
	"""azcmagent with the config and state dirs of proxy (default: the main arcproxy)."""
	p = proxy or env.proxy
	# Another state dir stands for another machine: its run dir has no daemon's pid file.
	cmd = [str(AZCMAGENT), *args, "--config-dir", conf or p.conf_dir, "--state-dir", state or p.state_dir,
	       "--run-dir", run or state or p.run_dir]
	if env.himds_port and "--himds" not in args:
		cmd += ["--himds", "http://127.0.0.1:%d" % env.himds_port]
	kw = run_kw(env) if as_user else {}
	if popen:
		return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
					env=clean_environ(), **kw)
	r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=clean_environ(), **kw)
	check(not re.search(r"ERROR: \w+Sanitizer|runtime error:", r.stderr),
	      "azcmagent %s: sanitizer report:\n%s" % (" ".join(args), r.stderr[-3000:]))
	return r


def ok(r, what):
	check(r.returncode == 0, "%s: exit %d, stderr: %s" % (what, r.returncode, r.stderr.strip()))
	return r


def fails(r, code, regex, what):
	"""Exit code, and exactly one error line on stderr (warnings aside) that matches regex."""
	lines = [l for l in r.stderr.splitlines() if l and not l.startswith("azcmagent: warning:")]
	check(r.returncode == code, "%s: exit %d, want %d; stderr: %s" % (what, r.returncode, code,
									    r.stderr.strip()))
	check(len(lines) == 1, "%s: want one error line on stderr, got %d:\n%s" % (what, len(lines),
										r.stderr))
	check(re.search(regex, lines[0]), "%s: %r does not match /%s/" % (what, lines[0], regex))
	return lines[0]


def jout(r, what):
	ok(r, what)
	try:
		return json.loads(r.stdout)
	except ValueError as e:
		raise AssertionError("%s: stdout is not JSON (%s):\n%s" % (what, e, r.stdout[:2000]))


def read(path, mode="r"):
	try:
		with open(path, mode) as f:
			return f.read()
	except FileNotFoundError:
		return None


def agent_conf(p):
	return read(os.path.join(p.conf_dir, "agent.conf"))


def identity_files(state_dir):
	"""machine.json in the state dir, machine.crt and .key in himds's <state>/himds."""
	return sorted(os.path.basename(n) for n in ("himds/machine.key", "himds/machine.crt", "machine.json")
		      if os.path.exists(os.path.join(state_dir, n)))


def healthz(p):
	status, _, body = p.admin_get("/healthz")
	return json.loads(body)


def new_proxy(env, name, agent=None, start=True, routes=()):
	"""An arcproxy (Azure's routing order: no default_route) whose conf dir the user owns."""
	p = Proxy(routes=routes, hosts=GW_HOSTS, name=name)
	p.settings.pop("default_route")
	p.write_config()
	own(env, p.conf_dir)
	if agent:
		p.write_agent_conf(agent)
	env.proxies.append(p)
	if start:
		p.start()
	return p


def gateway_agent_conf(env, port):
	return ('connection = { type = "gateway"; };\n'
		'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "%s"; };\n' % (port, env.ca))


def connect_args(env, name=NAME, token_file=None, gateway_port=None, extra=()):
	return ["connect", "--cloud-url", "https://management.cloudsim.test",
		"--gateway-url", "https://gw.cloudsim.test:%d" % (gateway_port or env.sim.gw_port),
		"--ca-file", env.ca, "--onboarding-token-file", token_file or env.token_file,
		"--resource-name", name, *extra]


def start_himds(env):
	"""himds on the main arcproxy's dirs, when it is built (it reads agent.conf and the identity)."""
	if not HIMDS.exists():
		return
	p = env.proxy
	env.himds_port = free_port()
	with open(os.path.join(p.conf_dir, "himds.conf"), "w") as f:
		f.write('listen = [ "127.0.0.1:%d" ];\nproxy = "http://127.0.0.1:%d";\n'
			'heartbeat_interval_seconds = 2;\n' % (env.himds_port, p.port))
	env.himds_log = open(os.path.join(p.base, "himds.log"), "ab")
	env.himds = subprocess.Popen([str(HIMDS), "-d", "--config-dir", p.conf_dir, "--state-dir", p.state_dir,
				      "--run-dir", p.run_dir],
				     stdin=subprocess.DEVNULL, stdout=env.himds_log, stderr=env.himds_log,
				     **run_kw(env))
	wait_port(env.himds_port, 5, env.himds)


def himds_tail(env, n=20):
	text = read(os.path.join(env.proxy.base, "himds.log")) or ""
	return "\n".join(["--- himds log, last %d lines:" % n] + text.splitlines()[-n:])


# --- the module's environment ---------------------------------------------------

def setup():
	env = Env()
	try:
		if not AZCMAGENT.exists():
			raise AssertionError("azcmagent not found: %s (make, or set ARC_BIN)" % AZCMAGENT)
		env.tmp = tempfile.mkdtemp(prefix="azcm-", dir=harness.tmp_root())
		os.chmod(env.tmp, 0o755)
		own(env, env.tmp)
		sim = env.sim = new_sim()
		r = sim.run("pki", sim.pki)
		check(r.returncode == 0, "cloudsim pki: %s" % r.stderr.strip())
		sim.write_config()
		sim.start()		# it waits for the control plane's ports too
		# The gateway's CA where only root can change it: root's azcmagent and
		# daemons refuse one that another user could swap.
		cadir = tempfile.mkdtemp(prefix="azcm-ca-", dir=harness.tmp_root())
		os.chmod(cadir, 0o755)
		env.ca = os.path.join(cadir, "ca.crt")
		shutil.copy(sim.file("ca.crt"), env.ca)
		os.chmod(env.ca, 0o644)
		# The same CA in the user's folder: what root must refuse.
		env.user_ca = os.path.join(env.tmp, "ca.crt")
		shutil.copy(sim.file("ca.crt"), env.user_ca)
		own(env, env.user_ca)
		env.token_file = os.path.join(env.tmp, "token")
		with open(env.token_file, "w") as f:
			f.write(TOKEN + "\n")
		env.proxy = new_proxy(env, "azcm")
		start_himds(env)
	except BaseException:
		teardown(env)
		raise
	return env


def teardown(env):
	problems = []
	if env.himds is not None:
		if env.himds.poll() is None:
			env.himds.send_signal(signal.SIGTERM)
			try:
				env.himds.wait(10)
			except subprocess.TimeoutExpired:
				env.himds.kill()
				problems.append("himds did not stop on SIGTERM")
		if re.search(r"ERROR: \w+Sanitizer|runtime error:", himds_tail(env, 400)):
			problems.append("himds sanitizer report\n" + himds_tail(env, 60))
		env.himds_log.close()
	for p in env.proxies:
		if p.proc is None:
			continue
		crashed = p.proc.poll()
		if crashed is not None:
			problems.append("arcproxy %s had exited with status %s\n%s" % (p.base, crashed, p.stderr_tail()))
		rc = p.stop()
		if crashed is None and rc not in (0, None):
			problems.append("arcproxy %s exited %s on SIGTERM\n%s" % (p.base, rc, p.stderr_tail()))
		rep = p.sanitizer_report()
		if rep:
			problems.append("arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
	if env.sim is not None and env.sim.proc is not None:
		crashed = env.sim.proc.poll()
		if crashed is not None:
			problems.append("cloudsim had exited with status %s\n%s" % (crashed, env.sim.stderr_tail()))
		rc = env.sim.stop()
		if crashed is None and rc != 0:
			problems.append("cloudsim exited %s on SIGTERM\n%s" % (rc, env.sim.stderr_tail()))
		rep = env.sim.sanitizer_report()
		if rep:
			problems.append("cloudsim sanitizer: %s\n%s" % (rep, env.sim.stderr_tail(40)))
	if not problems and not harness.KEEP:
		for p in env.proxies:
			p.cleanup()
		if env.sim is not None:
			env.sim.cleanup()
		if env.tmp:
			shutil.rmtree(env.tmp, ignore_errors=True)
	return problems


# --- usage ---------------------------------------------------------------------

@test
def version_and_usage(env):
	r = ok(azcm(env, "version"), "version")
	check(re.fullmatch(r"azcmagent version \d+\.\d+\.\d+\n", r.stdout), "version printed %r" % r.stdout)
	check(jout(azcm(env, "version", "-j"), "version -j").get("version"), "version -j has no version")
	fails(azcm(env), 23, r"missing command", "no command")
	fails(azcm(env, "frobnicate"), 23, r"unknown command 'frobnicate'.*connect", "an unknown command")
	fails(azcm(env, "show", "--bogus"), 23, r"unknown option '--bogus'", "an unknown option")
	fails(azcm(env, "show", "--add"), 23, r"show does not take --add", "another command's option")
	fails(azcm(env, "config", "get"), 23, r"usage: azcmagent config get KEY", "config get, no key")
	fails(azcm(env, "config", "frob"), 23, r"unknown subcommand 'frob'", "config frob")
	h = ok(azcm(env, "--help"), "--help").stdout
	# ARC-FACTS' global flags: accepted, and --help says what each does here.
	check(re.search(r"--no-color +accepted: azcmagent prints no colour at all", h) and
	      re.search(r"--log-stderr +accepted: .*go to stderr already", h, re.S) and
	      re.search(r"^  -v +also says on stderr", h, re.M), "--help does not explain the flags:\n" + h)
	r = ok(azcm(env, "version", "--no-color", "--log-stderr"), "version --no-color --log-stderr")
	check(re.fullmatch(r"azcmagent version \d+\.\d+\.\d+\n", r.stdout) and r.stderr == "",
	      "--no-color --log-stderr changed the output: %r %r" % (r.stdout, r.stderr))
	r = ok(azcm(env, "show", "-j", "-v"), "show -j -v")
	json.loads(r.stdout)
	p = env.proxy
	check(re.search(r"^azcmagent: -v: config dir %s, state dir %s, run dir %s$" % (re.escape(p.conf_dir),
			re.escape(p.state_dir), re.escape(p.run_dir)), r.stderr, re.M) and
	      re.search(r"^azcmagent: -v: arcproxy http://127\.0\.0\.1:%d \(arcproxy\.conf\)" % p.port, r.stderr, re.M),
	      "show -v does not say where it looks:\n" + r.stderr)


# --- config ----------------------------------------------------------------------

@test(timeout=60)
def config_keys_and_values(env):
	p = env.proxy
	conf_path = os.path.join(p.conf_dir, "agent.conf")
	doc = jout(azcm(env, "config", "list", "-j"), "config list -j")
	check(list(doc) == KEYS, "config list -j keys: %r" % list(doc))
	check(doc["connection.type"] == "direct" and doc["extensions.enabled"] is True and
	      doc["proxy.bypass"] == [] and doc["gateway.url"] is None, "defaults: %r" % doc)
	info = jout(azcm(env, "config", "info", "-j"), "config info -j")
	check([k["key"] for k in info] == KEYS and all(k["description"] and k["accepts"] for k in info),
	      "config info -j: %r" % info)
	text = ok(azcm(env, "config", "list"), "config list").stdout
	check(all(k in text for k in KEYS), "config list does not name every key:\n" + text)

	squid_like = "http://127.0.0.1:%d" % free_port()
	good = [("proxy.url", squid_like, squid_like),
		("proxy.bypass", "Arc,AAD", ["Arc", "AAD"]),
		("extensions.enabled", "false", False),
		("extensions.blocklist", "Evil.Corp/Miner", ["Evil.Corp/Miner"]),
		("incomingconnections.ports", "22,8000-8080", ["22", "8000-8080"]),
		("config.mode", "monitor", "monitor"),
		("gateway.protocol", "http/1.1", "http/1.1"),
		("gateway.url", "https://gw.cloudsim.test:%d" % env.sim.gw_port,
		 "https://gw.cloudsim.test:%d" % env.sim.gw_port),
		("gateway.ca_file", env.ca, env.ca)]
	reloads = lambda: p.stderr_text().count("configuration reloaded")
	for key, value, want in good:
		# Each write tells the running arcproxy; waited for one at a time, since two
		# SIGHUPs close together are one signal (a loaded machine merged them).
		before = reloads()
		ok(azcm(env, "config", "set", key, value), "config set %s %s" % (key, value))
		check(poll(lambda: reloads() > before, timeout=5),
		      "arcproxy did not reload after config set %s" % key)
		got = jout(azcm(env, "config", "get", key, "-j"), "config get %s -j" % key)
		check(got == {key: want}, "config get %s -j: %r, want %r" % (key, got, want))
	r = ok(azcm(env, "config", "get", "proxy.bypass"), "config get proxy.bypass")
	check(r.stdout == "Arc,AAD\n", "config get proxy.bypass printed %r" % r.stdout)
	check(jout(azcm(env, "show", "-j"), "show -j").get("proxyBypass") == ["Arc", "AAD"] and
	      re.search(r"^Proxy Bypass: Arc, AAD$", ok(azcm(env, "show"), "show").stdout, re.M),
	      "show does not name proxy.bypass's services")
	check(stat.S_IMODE(os.stat(conf_path).st_mode) == 0o644, "agent.conf mode %o" %
	      stat.S_IMODE(os.stat(conf_path).st_mode))
	check(p.check_config().returncode == 0, "arcproxy -n refuses what azcmagent wrote:\n%s\n%s"
	      % (agent_conf(p), p.check_config().stderr))
	# The running arcproxy took the settings.
	check(poll(lambda: healthz(p).get("proxy") == squid_like, timeout=3),
	      "arcproxy's /healthz does not show proxy.url %s: %r" % (squid_like, healthz(p)))

	# Monitor mode locks the extension lists (set, --add, --remove, clear), and nothing changes.
	text = agent_conf(p)
	for args in ((("set", "extensions.allowlist", "A.B/C")), ("set", "extensions.blocklist", "A.B/C", "--add"),
		     ("set", "extensions.blocklist", "Evil.Corp/Miner", "--remove"), ("clear", "extensions.blocklist")):
		fails(azcm(env, "config", *args), 27, r"extensions\.(allow|block)list is locked while config\.mode "
		      r"is monitor", "config " + " ".join(args))
		check(agent_conf(p) == text, "config %s in monitor mode changed agent.conf" % " ".join(args))
	# config list says what monitor mode overrides, beside what is stored.
	listing = ok(azcm(env, "config", "list"), "config list in monitor mode").stdout
	for key, note in (("guestconfiguration.enabled", "true  (in effect: false, config.mode is monitor)"),
			  ("extensions.allowlist", "(in effect: the monitor mode list below)")):
		check(re.search(r"^  %s +: .*%s$" % (re.escape(key), re.escape(note)), listing, re.M),
		      "config list in monitor mode, %s:\n%s" % (key, listing))
	check("\n  Microsoft.Azure.Monitor/AzureMonitorLinuxAgent\n" in listing,
	      "config list in monitor mode names no monitoring extension:\n%s" % listing)
	ok(azcm(env, "config", "set", "config.mode", "full"), "config set config.mode full")
	listing = ok(azcm(env, "config", "list"), "config list").stdout
	check("in effect" not in listing and "monitor mode" not in listing, "config list in full mode:\n%s" % listing)

	# Lists: --add, --remove (of something absent: no error), and a duplicate add.
	for args, want in ((("A.B/C", "--add"), ["Evil.Corp/Miner", "A.B/C"]),
			   (("A.B/C", "--add"), ["Evil.Corp/Miner", "A.B/C"]),
			   (("Evil.Corp/Miner", "--remove"), ["A.B/C"]),
			   (("Not.There/X", "--remove"), ["A.B/C"])):
		ok(azcm(env, "config", "set", "extensions.blocklist", *args), "config set --add/--remove")
		got = jout(azcm(env, "config", "get", "extensions.blocklist", "-j"), "get")
		check(got["extensions.blocklist"] == want, "after %r: %r, want %r" % (args, got, want))

	# Entries typed with spaces and repeats: stored trimmed, once, and what is printed is stored;
	# --remove in another case revokes the entry (extmgr matches ignoring case).
	r = ok(azcm(env, "config", "set", "extensions.allowlist", "Pub.A/X , pub.a/x,Pub.A/X "), "set with spaces")
	check(r.stdout.startswith("extensions.allowlist = Pub.A/X;") or r.stdout == "extensions.allowlist = Pub.A/X\n",
	      "config set printed %r" % r.stdout)
	got = jout(azcm(env, "config", "get", "extensions.allowlist", "-j"), "get")
	check(got["extensions.allowlist"] == ["Pub.A/X"], "allowlist stored %r" % got)
	ok(azcm(env, "config", "set", "extensions.allowlist", "PUB.A/X ", "--remove"), "--remove in another case")
	got = jout(azcm(env, "config", "get", "extensions.allowlist", "-j"), "get")
	check(got["extensions.allowlist"] == [], "--remove PUB.A/X left %r" % got)

	# Mistakes: the right code, one line naming what is valid, and the file untouched.
	text = agent_conf(p)
	bad = [(("config", "set", "no.such.key", "1"), 23, r"unknown key 'no\.such\.key'.*connection\.type.*config\.mode"),
	       (("config", "get", "nope"), 23, r"unknown key 'nope'; the keys are: connection\.type"),
	       (("config", "clear", "nope"), 23, r"unknown key"),
	       (("config", "set", "connection.type", "gatway"), 23, r"not one of: direct, gateway"),
	       (("config", "set", "extensions.enabled", "yes"), 23, r"not true or false"),
	       (("config", "set", "config.mode", "full-ish"), 23, r"not one of: full, monitor"),
	       (("config", "set", "proxy.url", "https://proxy:3128"), 23, r"http://host\[:port\]"),
	       (("config", "set", "gateway.url", "https://gw/path"), 23, r"https://host\[:port\]"),
	       (("config", "set", "extensions.allowlist", "NoSlash"), 23, r"Publisher/Type"),
	       (("config", "set", "incomingconnections.ports", "70000"), 23, r"not a port"),
	       (("config", "set", "proxy.bypass", "Arc,Nope"), 23, r"not one of AAD, ARM, AMA, Arc, ArcData"),
	       (("config", "set", "gateway.ca_file", "/nonexistent/ca.crt"), 23, r"No such file"),
	       (("config", "set", "gateway.ca_file", env.token_file), 23,
		r"^azcmagent: gateway\.ca_file: %s: not a PEM certificate$" % re.escape(env.token_file)),
	       (("config", "set", "proxy.url", "http://x:1", "--add"), 23, r"not a list"),
	       (("config", "set", "proxy.bypass", "Arc", "--add", "--remove"), 23, r"not both"),
	       (("config", "clear", "proxy.url", "--add"), 23, r"go with config set")]
	for args, code, rx in bad:
		fails(azcm(env, *args), code, rx, " ".join(args))
		check(agent_conf(p) == text, "%s changed agent.conf" % " ".join(args))
	if env.user:
		# Root names no CA that another user can change (root's own config dir).
		rconf = tempfile.mkdtemp(prefix="rootconf-", dir=harness.tmp_root())
		args = ("config", "set", "gateway.ca_file", env.user_ca)
		fails(azcm(env, *args, conf=rconf, as_user=False), 23, r"gateway\.ca_file: .*owned by uid %d, "
		      r"not root: refused" % env.user.pw_uid, " ".join(args) + " (as root)")
		check(not os.path.exists(os.path.join(rconf, "agent.conf")), "%s (as root) wrote agent.conf" %
		      " ".join(args))
		r = azcm(env, "config", "set", "gateway.ca_file", env.ca, conf=rconf, as_user=False)
		check(r.returncode == 0, "config set gateway.ca_file %s (as root): %s" % (env.ca, r.stderr))
		shutil.rmtree(rconf)

	# Gateway mode needs its URL and CA: a conflict, whichever order breaks it.
	ok(azcm(env, "config", "clear", "gateway.url"), "config clear gateway.url")
	text = agent_conf(p)
	fails(azcm(env, "config", "set", "connection.type", "gateway"), 27, r"gateway\.url is not set",
	      "gateway mode without gateway.url")
	check(agent_conf(p) == text, "a refused conflict changed agent.conf")

	# Back to the defaults, one key at a time.
	for key in KEYS:
		ok(azcm(env, "config", "clear", key), "config clear %s" % key)
	doc = jout(azcm(env, "config", "list", "-j"), "config list -j after clear")
	check(doc["proxy.url"] is None and doc["extensions.blocklist"] == [] and doc["config.mode"] == "full",
	      "after clearing every key: %r" % doc)
	check(poll(lambda: healthz(p).get("proxy") is None, timeout=3), "arcproxy still has a proxy.url")


@test
def config_write_needs_owner(env):
	# Someone who is neither root nor the owner of the config dir may read, not write.
	if os.geteuid() == 0:
		conf = tempfile.mkdtemp(prefix="rootconf-", dir=env.tmp)
		os.chmod(conf, 0o755)
		if not env.user:
			raise harness.Skip("root with ARC_RUN_AS='': no unprivileged user to try")
	else:
		conf = "/"
	state = tempfile.mkdtemp(prefix="state-", dir=env.tmp)
	own(env, state)
	before = read(os.path.join(conf, "agent.conf"))
	for args in (("config", "set", "proxy.url", "http://127.0.0.1:3128"), ("config", "clear", "proxy.url")):
		fails(azcm(env, *args, conf=conf, state=state), 18,
		      r"needs root \(or, in development mode, the owner of %s\)" % re.escape(conf), " ".join(args))
	check(read(os.path.join(conf, "agent.conf")) == before, "a refused write changed agent.conf")
	ok(azcm(env, "config", "list", conf=conf, state=state), "config list (reading needs no rights)")


@test(timeout=60)
def config_set_killed_at_any_moment(env):
	conf = tempfile.mkdtemp(prefix="killconf-", dir=env.tmp)
	state = tempfile.mkdtemp(prefix="killstate-", dir=env.tmp)
	own(env, conf, state)
	path = os.path.join(conf, "agent.conf")
	values = [",".join("Pub%d.Old/Type%d" % (i, i) for i in range(200)),
		  ",".join("Pub%d.New/T%d" % (i, i) for i in range(300))]
	texts = []
	t0 = time.monotonic()
	for v in values:
		ok(azcm(env, "config", "set", "extensions.allowlist", v, conf=conf, state=state), "config set")
		texts.append(read(path))
	runtime = (time.monotonic() - t0) / 2
	check(texts[0] != texts[1], "the two values wrote the same text")
	killed = finished = 0
	rnd = random.Random(4)
	for i in range(80):
		proc = azcm(env, "config", "set", "extensions.allowlist", values[i % 2], conf=conf, state=state,
			    popen=True)
		time.sleep(rnd.uniform(0, runtime * 1.2))
		proc.send_signal(signal.SIGKILL)
		rc = proc.wait(10)
		if rc == -signal.SIGKILL:
			killed += 1
		elif rc == 0:
			finished += 1
		now = read(path)
		check(now in texts, "after a SIGKILL (run %d) agent.conf is neither the old nor the new text:\n%s"
		      % (i, (now or "(missing)")[:400]))
	check(killed >= 10, "only %d of 80 runs were killed before they ended: the test tested little" % killed)
	# Always loadable; and the next write sweeps what the killed ones left.
	doc = jout(azcm(env, "config", "list", "-j", conf=conf, state=state), "config list after the kills")
	check(len(doc["extensions.allowlist"]) in (200, 300), "allowlist has %d entries" %
	      len(doc["extensions.allowlist"]))
	ok(azcm(env, "config", "set", "config.mode", "full", conf=conf, state=state), "a write after the kills")
	left = [n for n in conf_files(conf) if n != "agent.conf"]
	check(not left, "files left in the config dir after the kills and a clean write: %r" % left)


# --- show and check ----------------------------------------------------------------

@test
def show_disconnected(env):
	p = env.proxy
	if identity_files(p.state_dir):
		raise harness.Skip("the machine is connected already")
	doc = jout(azcm(env, "show", "-j"), "show -j")
	check(doc["status"] == "Disconnected", "status %r" % doc["status"])
	check("azcmagent connect" in (doc.get("hint") or ""), "no hint to connect: %r" % doc.get("hint"))
	check(doc["httpsProxy"] == "http://localhost:%d" % p.port, "httpsProxy %r" % doc["httpsProxy"])
	svc = {s["name"]: s for s in doc["services"]}
	check(svc["arcproxy"]["status"] == "running" and svc["arcproxy"]["pid"] == p.pid,
	      "arcproxy service: %r (pid %d)" % (svc["arcproxy"], p.pid))
	if env.himds is None:
		check(svc["himds"]["status"] == "stopped", "himds service: %r" % svc["himds"])
	check(doc["connectionType"] == "direct" and doc["upstreamProxy"] is None and doc["resourceId"] is None,
	      "show -j: %r" % doc)
	text = ok(azcm(env, "show"), "show").stdout
	check(re.search(r"^Using HTTPS Proxy: http://localhost:%d$" % p.port, text, re.M),
	      "show has no 'Using HTTPS Proxy: http://localhost:%d':\n%s" % (p.port, text))
	check(re.search(r"^Agent Status: Disconnected$", text, re.M), "show:\n" + text)


@test(timeout=40)
def show_routes_and_gateway_from_status(env):
	"""show learns arcproxy's routes and gateway from its /status, not from arcproxy.conf."""
	dead = free_port()
	routes = [{"match": "deny.example.test", "route": "deny"}, {"match": "*.example.test", "route": "direct"}]
	p = new_proxy(env, "azcmshow", agent=gateway_agent_conf(env, dead), routes=routes)
	# What arcproxy runs, not what the file says now: the file changes, arcproxy is not told.
	p.write_config(routes=[{"match": "other.test", "route": "deny"}])
	doc = poll(lambda: (lambda d: d if (d["arcproxy"].get("gateway") or {}).get("state") == "down" else None)(
		jout(azcm(env, "show", "-j", proxy=p), "show -j")), timeout=10, interval=0.3)
	check(doc, "show -j never saw the gateway down: %r" % jout(azcm(env, "show", "-j", proxy=p), "show -j"))
	ap = doc["arcproxy"]
	check(ap["running"] is True and ap["pid"] == p.pid and ap["configGeneration"] == 1, "arcproxy: %r" % ap)
	check(ap["routes"] == routes, "routes %r, want %r" % (ap["routes"], routes))
	check(ap["defaultRoute"] == "direct" and ap["connectionType"] == "gateway" and ap["proxyBypassHosts"] == [],
	      "arcproxy: %r" % ap)
	check(ap["gateway"]["url"] == "https://gw.cloudsim.test:%d" % dead and ap["gateway"]["lastError"],
	      "gateway: %r" % ap["gateway"])
	check(doc["gatewayState"].startswith("down"), "gatewayState %r" % doc["gatewayState"])
	text = ok(azcm(env, "show", proxy=p), "show").stdout
	check(re.search(r"^arcproxy: running \(pid %d\), configuration generation 1 " % p.pid, text, re.M) and
	      re.search(r"^  deny\.example\.test -> deny$", text, re.M) and
	      re.search(r"^  \*\.example\.test -> direct$", text, re.M) and
	      not re.search(r"other\.test", text), "show:\n" + text)
	# After SIGHUP, the new generation and its routes.
	p.reload()
	doc = poll(lambda: (lambda d: d if d["arcproxy"].get("configGeneration") == 2 else None)(
		jout(azcm(env, "show", "-j", proxy=p), "show -j")), timeout=5, interval=0.2)
	check(doc and doc["arcproxy"]["routes"] == [{"match": "other.test", "route": "deny"}],
	      "show -j after reload: %r" % (doc and doc["arcproxy"]))


@test
def show_with_arcproxy_stopped(env):
	p = new_proxy(env, "azcmstopped", start=False)
	r = azcm(env, "show", "-j", proxy=p)
	doc = jout(r, "show -j with arcproxy stopped")
	ap = doc["arcproxy"]
	check(ap["running"] is False and ap["error"].startswith("arcproxy is not running"),
	      "arcproxy: %r" % ap)
	svc = {s["name"]: s for s in doc["services"]}
	check(svc["arcproxy"]["status"] == "stopped" and svc["arcproxy"]["pid"] is None, "services: %r" % svc)
	text = ok(azcm(env, "show", proxy=p), "show with arcproxy stopped").stdout
	check(re.search(r"^arcproxy: arcproxy is not running ", text, re.M) and "Routes:" not in text,
	      "show:\n" + text)
	# check needs arcproxy: 4, and says so.
	fails(azcm(env, "check", "--cloud-url", "https://management.cloudsim.test", proxy=p), 4,
	      r"^azcmagent: arcproxy is not running", "check with arcproxy stopped")


@test(timeout=60)
def check_gateway_down_then_up(env):
	sim = env.sim
	dead = free_port()
	p = new_proxy(env, "azcmgw", agent=gateway_agent_conf(env, dead))
	# arcproxy down: 4, whatever else is configured.
	nostate = tempfile.mkdtemp(prefix="nostate-", dir=env.tmp)
	own(env, nostate)
	fails(azcm(env, "check", "--proxy", "http://127.0.0.1:%d" % free_port(),
		   "--cloud-url", "https://management.cloudsim.test", proxy=p, state=nostate),
	      4, r"arcproxy is not running", "check with arcproxy down")
	# The gateway down: both rows unreachable, with the reason.
	r = azcm(env, "check", "-j", "--cloud-url", "https://management.cloudsim.test", proxy=p)
	check(r.returncode == 26, "check, gateway down: exit %d, want 26\n%s%s" % (r.returncode, r.stdout, r.stderr))
	doc = json.loads(r.stdout)
	rows = {e["kind"]: e for e in doc["endpoints"]}
	check(set(rows) == {"cloud", "gateway"}, "check rows: %r" % doc["endpoints"])
	check(doc["arcproxy"]["running"] and doc["arcproxy"]["pid"] == p.pid, "arcproxy: %r" % doc["arcproxy"])
	check(not rows["cloud"]["reachable"] and re.search(r"50[24]", rows["cloud"]["error"] or ""),
	      "cloud row with the gateway down: %r" % rows["cloud"])
	check(not rows["gateway"]["reachable"] and rows["gateway"]["error"], "gateway row: %r" % rows["gateway"])
	check(rows["gateway"]["endpoint"] == "https://gw.cloudsim.test:%d/.well-known/arc-gateway/endpoints"
	      % dead, "gateway row endpoint %r" % rows["gateway"]["endpoint"])
	# Pointed at the live gateway (config set: written, arcproxy told), everything is reachable.
	ok(azcm(env, "config", "set", "gateway.url", "https://gw.cloudsim.test:%d" % sim.gw_port, proxy=p),
	   "config set gateway.url")
	check(poll(lambda: (healthz(p).get("gateway") or {}).get("url", "").endswith(":%d" % sim.gw_port),
		   timeout=3), "arcproxy did not reload: %r" % healthz(p))
	r = azcm(env, "check", "-j", "--cloud-url", "https://management.cloudsim.test", proxy=p)
	check(r.returncode == 0, "check, gateway up: exit %d\n%s%s\n%s" % (r.returncode, r.stdout, r.stderr,
									   sim.stderr_tail(8)))
	doc = json.loads(r.stdout)
	rows = {e["kind"]: e for e in doc["endpoints"]}
	cloud, gw = rows["cloud"], rows["gateway"]
	check(cloud["reachable"] and cloud["route"] == "gateway" and cloud["routeFrom"] == "access log",
	      "cloud row: %r" % cloud)
	check(cloud["tlsVersion"] in ("TLSv1.3", "TLSv1.2") and cloud["latencyMs"] >= 0, "cloud row: %r" % cloud)
	check(gw["reachable"] and gw["route"] == "direct" and gw["httpStatus"] == 200 and gw["tlsVersion"],
	      "gateway row: %r" % gw)
	# show reads the live gateway from arcproxy's /status: up, its protocol, the list and when it came.
	doc = poll(lambda: (lambda d: d if (d["arcproxy"].get("gateway") or {}).get("lastListFetch") else None)(
		jout(azcm(env, "show", "-j", proxy=p), "show -j")), timeout=10, interval=0.3)
	check(doc, "show -j: no endpoint list fetch: %r" % jout(azcm(env, "show", "-j", proxy=p), "show -j")["arcproxy"])
	g = doc["arcproxy"]["gateway"]
	check(g["state"] == "up" and g["protocol"] in ("h2", "http/1.1") and isinstance(g["endpoints"], int) and
	      g["endpoints"] > 0 and g["url"] == "https://gw.cloudsim.test:%d" % sim.gw_port and g["lastError"] is None and
	      "last_error" not in g and "protocolSetting" in g,
	      "show -j, the gateway up: %r" % g)
	check(doc["arcproxy"]["configGeneration"] >= 2, "config set did not reload arcproxy: %r" % doc["arcproxy"])
	check(sim.log_has(r"connect management\.cloudsim\.test:443 ", timeout=3),
	      "the gateway's log has no CONNECT to management.cloudsim.test\n" + sim.stderr_tail(8))
	text = ok(azcm(env, "check", "--cloud-url", "https://management.cloudsim.test", proxy=p), "check").stdout
	check(re.search(r"^ENDPOINT\s+REACHABLE\s+ROUTE\s+TLS\s+LATENCY", text, re.M) and
	      re.search(r"^https://management\.cloudsim\.test\s+yes\s+gateway\s+TLSv1\.[23]\s+\d+ ms$", text, re.M),
	      "check's table:\n" + text)


class TlsStandIn:
	"""HTTPS on 127.0.0.1 with the gateway's certificate (it names 127.0.0.1), in a thread."""

	def serve(self, sim, handler):
		self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
		ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
		ctx.load_cert_chain(sim.file("gateway.crt"), sim.file("gateway.key"))
		self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
		self.port = self.httpd.server_address[1]
		self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
		self.thread.start()

	def close(self):
		self.httpd.shutdown()
		self.httpd.server_close()


class SkewedServer(TlsStandIn):
	"""A stand-in whose Date is 10 minutes behind."""

	def __init__(self, sim, skew=-600):
		class Handler(http.server.BaseHTTPRequestHandler):
			def date_time_string(self, timestamp=None):
				return super().date_time_string(time.time() + skew)

			def do_GET(self):
				self.send_response(200)
				self.send_header("Content-Length", "3")
				self.end_headers()
				self.wfile.write(b"ok\n")

			def log_message(self, *args):
				pass
		self.serve(sim, Handler)


@test
def check_clock_skew(env):
	srv = SkewedServer(env.sim)
	try:
		p = new_proxy(env, "azcmskew", routes=[harness.direct("127.0.0.1:%d" % srv.port)],
			      agent='gateway = { ca_file = "%s"; };\n' % env.ca)
		url = "https://127.0.0.1:%d" % srv.port
		doc = jout(azcm(env, "check", "-j", "--cloud-url", url, proxy=p), "check -j, a skewed server")
		row = doc["endpoints"][0]
		check(row["reachable"] and row["route"] == "direct" and row["httpStatus"] == 200 and
		      abs(row["clockSkewSeconds"] + 600) <= 5, "check row: %r" % row)
		check(len(doc["warnings"]) == 1 and re.search(r"(59\d|60\d) s behind.*more than 120 s", doc["warnings"][0]),
		      "warnings: %r" % doc["warnings"])
		text = ok(azcm(env, "check", "--cloud-url", url, proxy=p), "check").stdout
		check(re.search(r"^warning: https://127\.0\.0\.1:\d+: the server's clock is (59\d|60\d) s behind", text, re.M),
		      "check prints no clock warning:\n" + text)
	finally:
		srv.close()


# --- connect -------------------------------------------------------------------------

@test(timeout=60)
def connect_refusals(env):
	p = env.proxy
	before_conf, before_files = agent_conf(p), identity_files(p.state_dir)

	def unchanged(what):
		check(agent_conf(p) == before_conf, "%s changed agent.conf:\n%s" % (what, agent_conf(p)))
		check(identity_files(p.state_dir) == before_files, "%s left %r" % (what, identity_files(p.state_dir)))

	args = connect_args(env)
	for drop in ("--cloud-url", "--resource-name", "--onboarding-token-file"):
		i = args.index(drop)
		fails(azcm(env, *(args[:i] + args[i + 2:])), 23, r"connect needs %s" % drop, "connect without " + drop)
	for flag, value, rx in (("--resource-name", "-bad", r"--resource-name"),
				("--resource-name", "a" * 64, r"--resource-name"),
				("--cloud-url", "http://management.cloudsim.test", r"--cloud-url"),
				("--gateway-url", "gw.cloudsim.test", r"--gateway-url"),
				("--ca-file", "/nonexistent/ca.crt", r"--ca-file"),
				("--ca-file", env.token_file, r"not a PEM certificate"),
				("--onboarding-token-file", "/nonexistent/token", r"--onboarding-token-file")):
		a = list(args)
		a[a.index(flag) + 1] = value
		fails(azcm(env, *a), 23, rx, "connect %s %s" % (flag, value))
	if env.user:
		a = list(args)
		a[a.index("--ca-file") + 1] = env.user_ca
		fails(azcm(env, *a, as_user=False), 23, r"--ca-file .*owned by uid %d, not root: refused" %
		      env.user.pw_uid, "connect --ca-file %s (as root)" % env.user_ca)
	for tags in ("novalue", "a=1,A=2", "k/x=1"):
		fails(azcm(env, *args, "--tags", tags), 23, r"--tags", "connect --tags %s" % tags)
	fails(azcm(env, *args, "--location", "east us"), 23, r"--location", "connect --location 'east us'")
	unchanged("refused arguments")

	# arcproxy not running: no pid file in the state dir, nothing on the proxy port.
	conf = tempfile.mkdtemp(prefix="noproxyconf-", dir=env.tmp)
	state = tempfile.mkdtemp(prefix="noproxystate-", dir=env.tmp)
	own(env, conf, state)
	fails(azcm(env, *args, "--proxy", "http://127.0.0.1:%d" % free_port(), conf=conf, state=state), 4,
	      r"arcproxy is not running", "connect with arcproxy down")
	check(conf_files(conf) == [] and os.listdir(state) == [],
	      "connect with arcproxy down wrote %r %r"
	      % (os.listdir(conf), os.listdir(state)))

	# An identity here already: 67, and it is not touched.
	with open(os.path.join(state, "machine.json"), "w") as f:
		f.write('{"resource": {"name": "other"}}')
	fails(azcm(env, *args, "--proxy", "http://127.0.0.1:%d" % p.port, conf=conf, state=state), 67,
	      r"already connected",
	      "connect with an identity present")
	check(read(os.path.join(state, "machine.json")) == '{"resource": {"name": "other"}}',
	      "connect touched the identity that was there")

	# An arcproxy that answers but cannot be told to reload (its pid file is in another state
	# dir): it never shows the gateway, so nothing is registered through it in direct mode.
	shutil.copy(p.conf_path, os.path.join(conf, "arcproxy.conf"))
	state2 = tempfile.mkdtemp(prefix="nopidstate-", dir=env.tmp)
	own(env, state2)
	fails(azcm(env, *args, conf=conf, state=state2), 4, r"did not take the gateway settings: it has no pid "
	      r"file in the run dir \(%s\) to be told by$" % re.escape(state2),
	      "connect through an arcproxy it cannot reload")
	check(conf_files(conf) == ["arcproxy.conf"] and os.listdir(state2) == [],
	      "a connect that could not reload arcproxy left %r %r" % (os.listdir(conf), os.listdir(state2)))
	check(healthz(p).get("connection_type") == "direct", "the main arcproxy changed mode: %r" % healthz(p))

	# The gateway down: the registration cannot get out (26) and agent.conf is put back.
	r = azcm(env, *connect_args(env, gateway_port=free_port()))
	fails(r, 26, r"cannot reach https://management\.cloudsim\.test", "connect with the gateway down")
	unchanged("connect with the gateway down")
	check(poll(lambda: healthz(p).get("connection_type") == "direct", timeout=3),
	      "arcproxy stayed in gateway mode after a failed connect: %r" % healthz(p))

	# A bad onboarding token: 41, nothing written.
	bad = os.path.join(env.tmp, "badtoken")
	with open(bad, "w") as f:
		f.write("not-the-token\n")
	fails(azcm(env, *connect_args(env, token_file=bad)), 41, r"refused the onboarding token",
	      "connect with a bad token")
	unchanged("connect with a bad token")
	check(poll(lambda: healthz(p).get("connection_type") == "direct", timeout=3),
	      "arcproxy stayed in gateway mode after a refused token: %r" % healthz(p))


class FakeCloud(TlsStandIn):
	"""A stand-in answering register with 201 and a body of the test's choosing; it counts the
	DELETEs that reach it."""

	def __init__(self, sim):
		cloud = self
		self.register_body = b""
		self.deletes = 0

		class Handler(http.server.BaseHTTPRequestHandler):
			def answer(self, status, body):
				self.send_response(status)
				self.send_header("Content-Type", "application/json")
				self.send_header("Content-Length", str(len(body)))
				self.end_headers()
				self.wfile.write(body)

			def do_POST(self):
				self.rfile.read(int(self.headers.get("Content-Length") or 0))
				self.answer(201, cloud.register_body)

			def do_DELETE(self):
				cloud.deletes += 1
				self.answer(200, b"{}")

			def log_message(self, *args):
				pass
		self.serve(sim, Handler)


@test(timeout=90)
def connect_undone_after_register(env):
	"""A connect that fails after the cloud registered the machine deletes it there again (the
	next connect of that name is not refused with 44), or warns that it stays and how to remove it."""
	p, sim = env.proxy, env.sim
	if os.geteuid() == 0 and not env.user:
		raise harness.Skip("root with ARC_RUN_AS='': <state>/himds cannot be made unwritable")
	if identity_files(p.state_dir):
		raise harness.Skip("the machine is connected already")
	before = agent_conf(p)
	# <state>/himds not writable (root's, for the user azcmagent runs as; else not a directory):
	# the identity cannot be stored after register.
	name = "azcm-it-unstored"
	state = tempfile.mkdtemp(prefix="unstored-", dir=env.tmp)
	own(env, state)
	if env.user:
		os.mkdir(os.path.join(state, "himds"), 0o755)
	else:
		with open(os.path.join(state, "himds"), "w") as f:
			f.write("not a directory\n")
	r = azcm(env, *connect_args(env, name=name), state=state, run=p.run_dir)
	fails(r, 1, r"cannot store the identity: .*himds", "connect with <state>/himds not writable")
	check("stays registered" not in r.stderr, "the delete in the cloud failed: %s" % r.stderr)
	status, _ = operator(sim, "GET", "/operator/machines/" + name)
	check(status == 404, "the cloud kept %s after a connect that could not store it: %d" % (name, status))
	check(identity_files(state) == [] and agent_conf(p) == before,
	      "a failed connect left %r, agent.conf %r" % (identity_files(state), agent_conf(p)))
	check(poll(lambda: healthz(p).get("connection_type") == "direct", timeout=3),
	      "arcproxy stayed in gateway mode: %r" % healthz(p))

	# A cloud whose answer cannot delete what it registered: the warning says so, precisely.
	cloud = FakeCloud(sim)
	try:
		fp = new_proxy(env, "azcmfake", routes=[harness.direct("127.0.0.1:%d" % cloud.port)])
		url = "https://127.0.0.1:%d" % cloud.port
		for body, code, rx, why in (
				(b"<html>registered</html>", 42, r"register answered 201 with no JSON",
				 r"the cloud's answer has no certificate to delete it with"),
				(json.dumps({"certificate": read(env.ca), "resource": {}}).encode(), 42,
				 r"certificate from the cloud is not for the key made here",
				 r"the certificate from the cloud is not for the key made here, so it cannot delete it")):
			cloud.register_body = body
			a = connect_args(env, name=name)
			a[a.index("--cloud-url") + 1] = url
			r = azcm(env, *a, proxy=fp)
			fails(r, code, rx, "connect to a cloud answering %r" % body[:30])
			check(re.search(r"^azcmagent: warning: %s stays registered in the cloud \(%s\): delete the "
					r"resource %s there" % (name, why, name), r.stderr, re.M),
			      "no precise warning that %s stays registered:\n%s" % (name, r.stderr))
			check(identity_files(fp.state_dir) == [] and agent_conf(fp) is None,
			      "a failed connect left %r, agent.conf %r" % (identity_files(fp.state_dir), agent_conf(fp)))
		check(cloud.deletes == 0, "a delete reached the cloud without a usable certificate")
	finally:
		cloud.close()


@test(timeout=60)
def connect_flow(env):
	p, sim = env.proxy, env.sim
	r = azcm(env, *connect_args(env, extra=("--location", "westeurope", "--tags", "env=it,team=arc", "-j")))
	check(r.returncode == 0, "connect: exit %d\n%s\n%s\n%s" % (r.returncode, r.stderr, sim.stderr_tail(10),
								   p.stderr_tail(10)))
	env.connected = True
	check(env.himds is None or "has not taken" not in r.stderr, "connect: %s" % r.stderr)
	out = json.loads(r.stdout)
	check(out["status"] == "Connected" and out["resourceName"] == NAME, "connect -j: %r" % out)
	# The identity, as API.md has it.
	check(identity_files(p.state_dir) == ["machine.crt", "machine.json", "machine.key"],
	      "state dir after connect: %r" % os.listdir(p.state_dir))
	mode = stat.S_IMODE(os.stat(os.path.join(p.state_dir, "himds", "machine.key")).st_mode)
	check(mode == 0o640, "machine.key mode %o, want 640" % mode)
	check(stat.S_IMODE(os.stat(os.path.join(p.state_dir, "himds", "machine.crt")).st_mode) == 0o644,
	      "machine.crt mode")
	machine = json.loads(read(os.path.join(p.state_dir, "machine.json")))
	res = machine["resource"]
	check(res["name"] == NAME and res["resourceId"].endswith("/providers/Microsoft.HybridCompute/machines/" + NAME),
	      "machine.json resource: %r" % res)
	check(res.get("tags") == {"env": "it", "team": "arc"} and res.get("location") == "westeurope",
	      "tags and location: %r" % res)
	check(machine["cloudUrl"] == "https://management.cloudsim.test" and machine["caFile"] == env.ca and
	      machine["connectedAt"] and machine["heartbeatIntervalSeconds"] > 0, "machine.json: %r" % machine)
	key = read(os.path.join(p.state_dir, "himds", "machine.key"))
	check("PRIVATE KEY" in key and key not in (sim.stderr_text() + r.stdout + r.stderr),
	      "machine.key is not a private key made here")
	# The package-signing CA of the register answer, for extmgr (issue 11).
	check(read(os.path.join(p.conf_dir, "packages-ca.crt")) == read(sim.file("pkgsign-ca.crt")) and
	      stat.S_IMODE(os.stat(os.path.join(p.conf_dir, "packages-ca.crt")).st_mode) == 0o644,
	      "packages-ca.crt is not the signing CA")
	# agent.conf in gateway mode, arcproxy with it and with the certificate.
	conf = jout(azcm(env, "config", "list", "-j"), "config list")
	check(conf["connection.type"] == "gateway" and conf["gateway.url"] ==
	      "https://gw.cloudsim.test:%d" % sim.gw_port and conf["gateway.ca_file"] == env.ca, "agent.conf: %r" % conf)
	check(poll(lambda: healthz(p).get("connection_type") == "gateway", timeout=3), "healthz: %r" % healthz(p))
	# The cloud's view.
	status, m = operator(sim, "GET", "/operator/machines/" + NAME)
	check(status == 200 and m["name"] == NAME and m["resourceId"] == res["resourceId"],
	      "operator API: %d %r" % (status, m))
	status, lst = operator(sim, "GET", "/operator/machines")
	check(status == 200 and [x["name"] for x in lst].count(NAME) == 1, "operator list: %r" % lst)
	# show names it; check finds the cloud in machine.json.
	doc = jout(azcm(env, "show", "-j"), "show -j")
	check(doc["resourceName"] == NAME and doc["resourceId"] == res["resourceId"] and
	      doc["tags"] == {"env": "it", "team": "arc"} and doc["connectionType"] == "gateway" and
	      doc["gatewayUrl"] == conf["gateway.url"] and doc["cloudUrl"] == machine["cloudUrl"],
	      "show -j after connect: %r" % doc)
	r = azcm(env, "check", "-j")
	check(r.returncode == 0, "check after connect: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
	rows = {e["kind"]: e for e in json.loads(r.stdout)["endpoints"]}
	check(rows["cloud"]["endpoint"] == machine["cloudUrl"] and rows["cloud"]["route"] == "gateway",
	      "check after connect: %r" % rows)
	# Once connected, connect again: 67; the same name from another machine: 44.
	fails(azcm(env, *connect_args(env)), 67, r"already connected", "a second connect")
	conf2 = tempfile.mkdtemp(prefix="twinconf-", dir=env.tmp)
	state2 = tempfile.mkdtemp(prefix="twinstate-", dir=env.tmp)
	shutil.copy(p.conf_path, os.path.join(conf2, "arcproxy.conf"))
	own(env, conf2, state2)
	line = fails(azcm(env, *connect_args(env), conf=conf2, state=state2), 44, r"registered already",
		     "connect with a name the cloud has")
	check(line.count("is registered") == 1, "the 44 line says it more than once: %r" % line)
	check(identity_files(state2) == [] and not os.path.exists(os.path.join(conf2, "agent.conf")),
	      "a refused twin left %r %r" % (os.listdir(state2), os.listdir(conf2)))


@test(timeout=45)
def heartbeat_visible(env):
	if not env.connected:
		raise harness.Skip("connect_flow did not connect")
	if env.himds is None:
		raise harness.Skip("himds is not built yet (%s)" % HIMDS)
	check(env.himds.poll() is None, "himds exited %s\n%s" % (env.himds.returncode, himds_tail(env)))

	def beat():
		status, m = operator(env.sim, "GET", "/operator/machines/" + NAME)
		return status == 200 and m.get("lastHeartbeat") and m.get("status") == "Connected" and m
	m = poll(beat, timeout=20, interval=0.5)
	check(m, "no heartbeat in the operator API: %r\n%s" % (operator(env.sim, "GET", "/operator/machines/" + NAME),
								himds_tail(env)))
	doc = poll(lambda: (lambda d: d if d["status"] == "Connected" and d["lastHeartbeat"] else None)(
		jout(azcm(env, "show", "-j", "--himds", "http://127.0.0.1:%d" % env.himds_port), "show -j")),
		timeout=10, interval=0.5)
	check(doc, "show -j with himds running does not say Connected with a heartbeat:\n%s\n%s"
	      % (azcm(env, "show", "-j", "--himds", "http://127.0.0.1:%d" % env.himds_port).stdout, himds_tail(env)))
	svc = {s["name"]: s for s in doc["services"]}
	check(svc["himds"]["status"] == "running" and svc["himds"]["pid"] == env.himds.pid, "himds: %r" % svc)


@test
def logs_without_private_keys(env):
	p = env.proxy
	planted = []
	key_path = os.path.join(p.state_dir, "himds", "machine.key")
	if not os.path.exists(key_path):	# not connected: a stand-in key
		with open(key_path, "w") as f:
			f.write("-----BEGIN PRIVATE KEY-----\nstand-in\n-----END PRIVATE KEY-----\n")
		planted.append(key_path)
	tokens = os.path.join(p.run_dir, "tokens")
	os.makedirs(tokens, exist_ok=True)
	if not os.listdir(tokens):
		with open(os.path.join(tokens, "abc.key"), "w") as f:
			f.write("secret-token-key")
		planted.append(os.path.join(tokens, "abc.key"))
	evil = os.path.join(p.state_dir, "arcproxy", "evil.log")
	os.symlink(key_path, evil)
	planted.append(evil)
	out = os.path.join(env.tmp, "logs.tar.gz")
	try:
		r = azcm(env, "logs", "--output", out, "-j")
		doc = jout(r, "logs")
		check(doc["output"] == out, "logs -j: %r" % doc)
		check(stat.S_IMODE(os.stat(out).st_mode) == 0o600, "archive mode %o" % stat.S_IMODE(os.stat(out).st_mode))
		secrets = [read(key_path)]
		for root, _, names in os.walk(tokens):
			secrets += [read(os.path.join(root, n)) for n in names]
		with tarfile.open(out, "r:gz") as t:
			members = {m.name.split("/", 1)[1]: t.extractfile(m).read().decode("utf-8", "replace")
				   for m in t.getmembers() if m.isfile()}
	finally:
		for f in planted:
			os.unlink(f)
	for name in ("summary.json", "config/arcproxy.conf", "logs/access.log", "run/arcproxy.pid",
		     "live/arcproxy-healthz.json"):
		check(name in members, "the archive has no %s: %r" % (name, sorted(members)))
	if env.connected:
		check("state/machine.json" in members and "config/agent.conf" in members, "archive: %r" % sorted(members))
	for name, text in members.items():
		check(not name.endswith(".key") and "evil" not in name, "the archive holds %s" % name)
		check("PRIVATE KEY" not in text and not any(s and s in text for s in secrets),
		      "the archive's %s holds a private key" % name)
	summary = json.loads(members["summary.json"])
	check(summary["running"]["arcproxy"] == p.pid, "summary.json running: %r" % summary["running"])


@test
def logs_never_over_another_users_file(env):
	"""As root, logs --output in a folder every user may write replaces an earlier archive of its
	own, but never a symlink or a file that another user put under that name."""
	d = tempfile.mkdtemp(prefix="logsout-", dir=env.tmp)
	os.chmod(d, 0o1777)		# a /tmp of its own
	victim = os.path.join(env.tmp, "victim")
	with open(victim, "w") as f:
		f.write("root's file\n")
	nobody = pwd.getpwnam("nobody")

	def theirs(o):
		with open(o, "w") as f:
			f.write("another user's file\n")
		os.chown(o, nobody.pw_uid, nobody.pw_gid)

	for name, plant in (("link.tar.gz", lambda o: os.symlink(victim, o)), ("theirs.tar.gz", theirs)):
		out = os.path.join(d, name)
		plant(out)
		before = os.lstat(out)
		r = azcm(env, "logs", "--output", out, as_user=False)
		check(r.returncode == 1 and "it exists and is not a file of yours: remove it, or name another "
		      "file with --output" in r.stderr, "logs --output over %s: exit %d\n%s" % (name, r.returncode, r.stderr))
		after = os.lstat(out)
		check((after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns),
		      "logs --output replaced %s" % name)
	check(read(victim) == "root's file\n", "the symlink's target changed: %r" % read(victim))
	check(sorted(os.listdir(d)) == ["link.tar.gz", "theirs.tar.gz"], "left behind: %r" % os.listdir(d))
	out = os.path.join(d, "mine.tar.gz")
	for attempt in ("a new name", "its own earlier archive"):
		r = azcm(env, "logs", "--output", out, as_user=False)
		check(r.returncode == 0 and tarfile.is_tarfile(out) and os.stat(out).st_uid == 0,
		      "logs --output to %s: exit %d\n%s" % (attempt, r.returncode, r.stderr))


@test(timeout=60)
def disconnect_revokes(env):
	if not env.connected:
		raise harness.Skip("connect_flow did not connect")
	p, sim = env.proxy, env.sim
	old = tempfile.mkdtemp(prefix="oldid-", dir=env.tmp)
	for ext in ("crt", "key"):
		shutil.copy(os.path.join(p.state_dir, "himds", "machine." + ext), os.path.join(old, "old." + ext))
	# Before: the gateway lets this certificate through to echo.
	c, resp = tcs.connect(sim, "echo.cloudsim.test:443", cert="old", pki=old)
	c.close()
	check(resp.status == 200, "the gateway refuses the machine's certificate while connected: %r" % resp)
	r = azcm(env, "disconnect", "-j")
	check(r.returncode == 0, "disconnect: exit %d\n%s\n%s" % (r.returncode, r.stderr, sim.stderr_tail(8)))
	env.connected = False
	check(json.loads(r.stdout)["status"] == "Disconnected", "disconnect -j: %s" % r.stdout)
	check(identity_files(p.state_dir) == [], "identity left after disconnect: %r" % identity_files(p.state_dir))
	status, _ = operator(sim, "GET", "/operator/machines/" + NAME)
	check(status == 404, "the operator API still has %s: %d" % (NAME, status))
	c, resp = tcs.connect(sim, "echo.cloudsim.test:443", cert="old", pki=old)
	c.close()
	check(resp.status == 403, "the gateway still takes the old certificate after disconnect: %r" % resp)
	doc = jout(azcm(env, "show", "-j"), "show -j after disconnect")
	check(doc["status"] == "Disconnected" and doc["resourceId"] is None, "show -j: %r" % doc)
	fails(azcm(env, "disconnect"), 1, r"not connected", "a second disconnect")


@test
def disconnect_force_local_only(env):
	conf = tempfile.mkdtemp(prefix="forceconf-", dir=env.tmp)
	state = tempfile.mkdtemp(prefix="forcestate-", dir=env.tmp)
	own(env, conf, state)
	machine = {"resource": {"name": "ghost"}, "cloudUrl": "https://127.0.0.1:%d" % free_port(),
		   "caFile": env.ca}
	os.mkdir(os.path.join(state, "himds"))
	for name, text in (("machine.json", json.dumps(machine)), ("himds/machine.crt", "x"),
			   ("himds/machine.key", "y")):
		with open(os.path.join(state, name), "w") as f:
			f.write(text)
	own(env, *(os.path.join(state, n) for n in ("himds", "machine.json", "himds/machine.crt",
						   "himds/machine.key")))
	args = ("--proxy", "http://127.0.0.1:%d" % env.proxy.port)
	r = azcm(env, "disconnect", *args, conf=conf, state=state)
	check(r.returncode in (26, 41), "disconnect with an unreachable cloud: exit %d: %s" % (r.returncode, r.stderr))
	check(identity_files(state) == ["machine.crt", "machine.json", "machine.key"],
	      "a failed disconnect removed the identity")
	r = ok(azcm(env, "disconnect", "--force-local-only", *args, conf=conf, state=state),
	       "disconnect --force-local-only")
	check(identity_files(state) == [], "--force-local-only left %r" % identity_files(state))
	check(re.search(r"warning: the resource ghost stays in the cloud", r.stderr), "no warning: %r" % r.stderr)


@test
def disconnect_without_arcproxy(env):
	"""arcproxy down (no pid file, nothing on the proxy port): exit 4, as check and connect say it
	(it was 26, the cloud unreachable); the identity stays."""
	conf = tempfile.mkdtemp(prefix="noproxyconf-", dir=env.tmp)
	state = tempfile.mkdtemp(prefix="noproxystate-", dir=env.tmp)
	own(env, conf, state)
	machine = {"resource": {"name": "ghost"}, "cloudUrl": "https://management.cloudsim.test",
		   "caFile": env.ca}
	os.mkdir(os.path.join(state, "himds"))
	for name, text in (("machine.json", json.dumps(machine)), ("himds/machine.crt", "x"),
			   ("himds/machine.key", "y")):
		with open(os.path.join(state, name), "w") as f:
			f.write(text)
	own(env, *(os.path.join(state, n) for n in ("himds", "machine.json", "himds/machine.crt",
						   "himds/machine.key")))
	fails(azcm(env, "disconnect", "--proxy", "http://127.0.0.1:%d" % free_port(), conf=conf, state=state),
	      4, r"^azcmagent: arcproxy is not running \(no %s/arcproxy\.pid, nothing on http://127\.0\.0\.1:\d+\)"
	      % re.escape(state), "disconnect with arcproxy down")
	check(identity_files(state) == ["machine.crt", "machine.json", "machine.key"],
	      "a disconnect without arcproxy removed the identity")
