"""SSH into a machine whose firewall allows nothing inbound, through its one outbound route (issue 13
in issue 14's topology, netns.py).

The machine (its own network namespace) drops every packet that does not leave as arcproxy towards
the gateway (198.18.0.1:8443), and now also every inbound connection: its input chain accepts only
loopback and established traffic. sshd listens on 0.0.0.0:22 inside it; cloudsim, its operator API
and the ssh client are in the cloud's namespace.

Expectations:
- ssh from the cloud straight to 198.18.0.10:22 fails, and the input chain's drop counter shows it.
- ssh with `cloudsim remote MACHINE 22` as ProxyCommand runs a command: arcnotify (started as root,
  running as arcnotify) heard the request on its channel and dialled out through arcproxy and the
  gateway; no packet was dropped on the way out (nothing but arcproxy left the machine).
Skips, with the reason, when not root or when ip netns / nft cannot be used here.
"""

import os
import re
import shutil
import subprocess
import tempfile

import fixtures
import fx_remote
import harness
import netns
from harness import Skip, check, test

# run.py may run this module beside others, one module of the lane "netns" at a time (each
# boots a whole appliance in namespaces of its own).
PARALLEL = "netns"

NAME = "fw-remote"
NOTIFY = "127.0.0.1:8450"	# in the cloud's namespace, reached through the gateway only
RELAY = "127.0.0.1:8451"
# Nothing comes in but loopback and the answers to what went out.
INBOUND = """
table inet arcin {
	counter drop_in { }
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		counter name drop_in drop
	}
}
"""


class Env:
	def __init__(self):
		self.skip = None
		self.topo = None
		self.app = None
		self.work = None
		self.proxy = None	# run.py prints its tail when a test fails
		self.notify = None
		self.sshd = None
		self.sshd_proc = None


def setup():
	env = Env()
	env.skip = netns.unavailable()
	if env.skip:
		return env
	env.topo = netns.Topology()
	try:
		env.topo.create()
		env.work = tempfile.mkdtemp(prefix="fw-remote-", dir=harness.tmp_root())
		os.chmod(env.work, 0o755)
		app = env.app = netns.Appliance(env.topo, harness.BIN_DIR, env.work,
						pki=os.path.join(fixtures.shared_pki(), "pki"), name=NAME)
		netns.ensure_users()
		fx_remote.ensure_notify_user()
		app.extra_hosts = [{"name": "notify.cloudsim.test", "target": NOTIFY},
				   {"name": "relay.cloudsim.test", "target": RELAY}]
		app.cloud_settings = {"notify": {"listen": NOTIFY, "relay_listen": RELAY,
						 "ping_interval_ms": 1000, "dead_after_ms": 3000}}
		env.topo.load_firewall(netns.ruleset() + INBOUND)
		app.start_cloudsim()
		app.start_machine()
		r = app.connect()
		check(r.returncode == 0, "azcmagent connect: %s" % r.stderr)
		netns.write(os.path.join(app.etc, "notify.conf"), "# test_remote_firewall\n"
			    "ping_interval_ms = 1000;\ndead_after_ms = 3000;\nbackoff_min_ms = 100;\n"
			    "backoff_max_ms = 1000;\n")
		env.notify = env.proxy = netns.Proc("arcnotify", env.topo, "machine",
						    [str(fx_remote.ARCNOTIFY), "-d", "-v"] + app.dirs,
						    os.path.join(env.work, "arcnotify.log"))
		check(netns.wait_for(lambda: "notification channel up" in env.notify.text(), 15),
		      "the channel did not come up\n" + env.notify.tail())
		env.sshd = fx_remote.Sshd(listen="0.0.0.0", port=22)
		env.sshd_proc = netns.Proc("sshd", env.topo, "machine", env.sshd.argv(),
					   os.path.join(env.work, "sshd.log"))
		check(netns.wait_for(lambda: ":22 " in env.topo.run("machine", ["ss", "-Htln"]).stdout, 10),
		      "sshd did not listen in the machine\n" + env.sshd_proc.tail())
		r = app.azcm("config", "set", "incomingconnections.ports", "22")
		check(r.returncode == 0, "azcmagent config set: %s" % r.stderr)
	except BaseException:
		teardown(env)
		raise
	return env


def teardown(env):
	problems = []
	for p in (env.sshd_proc, env.notify):
		if p is None:
			continue
		crashed = p.proc.poll()
		rc = p.stop()
		if p is env.notify and (crashed is not None or rc != 0):
			problems.append("arcnotify exited %s\n%s" % (crashed if crashed is not None else rc, p.tail()))
		if re.search(r"ERROR: \w+Sanitizer|runtime error:", p.text()):
			problems.append("%s: sanitizer report\n%s" % (p.name, p.tail(40)))
	if env.app is not None:
		for p in env.app.procs():
			crashed = p.proc.poll()
			rc = p.stop()
			if crashed is None and rc != 0:
				problems.append("%s exited %s on SIGTERM\n%s" % (p.name, rc, p.tail()))
	if env.topo is not None:
		env.topo.destroy()
	if env.sshd is not None and not problems:
		env.sshd.cleanup()
	if env.work and not harness.KEEP and not problems:
		shutil.rmtree(env.work, ignore_errors=True)
	return problems


def ssh_in_cloud(env, *args, timeout=60):
	return env.topo.run("cloud", ["ssh", *args], timeout=timeout, stdin=subprocess.DEVNULL)


@test(timeout=90)
def ssh_with_nothing_inbound(env):
	if env.skip:
		raise Skip(env.skip)
	topo, app = env.topo, env.app
	before = topo.counters()
	r = ssh_in_cloud(env, *env.sshd.ssh_args(port=22), "-o", "ConnectTimeout=2",
			 "%s@%s" % (env.sshd.user, netns.MACHINE_IP), "echo", "direct")
	check(r.returncode != 0 and "direct" not in r.stdout, "ssh straight in worked: %r" % r.stdout)
	dropped = subprocess.run(topo.cmd("machine", [topo.nft, "list", "counter", "inet", "arcin", "drop_in"]),
				 capture_output=True, text=True, timeout=20).stdout
	check(re.search(r"packets [1-9]", dropped), "the input chain counted no drop:\n" + dropped)
	proxy_command = "%s remote %s 22 --operator http://%s" % (os.path.join(app.bin, "cloudsim"), NAME,
								 netns.OPERATOR)
	r = ssh_in_cloud(env, *env.sshd.ssh_args(proxy_command=proxy_command),
			 "%s@arc-remote-it" % env.sshd.user, "echo", "through-the-gateway", "$((6*7))")
	check(r.returncode == 0 and r.stdout == "through-the-gateway 42\n",
	      "ssh through the session: exit %d, %r %s\n%s\n%s" % (r.returncode, r.stdout, r.stderr,
								  env.notify.tail(), app.cloudsim.tail()))
	# The line is written when the session ends, a moment after ssh exits.
	check(netns.wait_for(lambda: re.search(r"session \w+ for .* to port 22 ended: both sides closed",
						env.notify.text()), 5),
	      "no session line in arcnotify's log\n" + env.notify.tail())
	after = topo.counters()
	for name in ("drop_arcproxy", "drop_himds", "drop_root", "drop_other"):
		check(after.get(name, 0) == before.get(name, 0),
		      "the egress firewall dropped %s packets during the session: %r -> %r"
		      % (name, before, after))
	check(after.get("allow_arcproxy", 0) >= before.get("allow_arcproxy", 0),
	      "arcproxy's counter went back")
