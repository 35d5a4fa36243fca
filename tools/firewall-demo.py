#!/usr/bin/env python3
"""firewall-demo.py -- `make firewall-demo`: the appliance in a network namespace whose only way out is the gateway (or, with --proxy, an enterprise Squid), until Ctrl-C.

Builds issue 14's topology (tests/integration/netns.py): arc-cloud-<id> with cloudsim (the gateway
on 198.18.0.1:8443, echo on 198.18.0.1:443, the operator API on its own loopback, and with --proxy a
Squid on 198.18.0.2:3128 that lets CONNECT reach the gateway only), arc-machine-<id> (198.18.0.10)
with arcproxy and himds under their own users and the nftables egress firewall of README.md's
"Behind a restrictive firewall".  Connects the machine, prints what to try, and on Ctrl-C or
SIGTERM stops everything and removes the namespaces and the temp dir.  Root only.

usage: python3 tools/firewall-demo.py [--bin DIR] [--proxy]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import netns  # noqa: E402

PROGRAMS = ["cloudsim", "arcproxy", "himds", "azcmagent"]


def say(msg):
	print("firewall-demo: " + msg, file=sys.stderr, flush=True)


def stage(bin_dir, work):
	"""Copies of the programs where the daemons' users can read them (a clone may be in /root)."""
	dest = os.path.join(work, "bin")
	os.mkdir(dest, 0o755)
	for name in PROGRAMS + ["extmgr", "guestconfig"]:
		src = os.path.join(bin_dir, name)
		if os.path.exists(src):
			shutil.copy2(src, os.path.join(dest, name))
			os.chmod(os.path.join(dest, name), 0o755)
		elif name in PROGRAMS:
			raise RuntimeError("%s not found in %s: run make first" % (name, bin_dir))
	return dest


def instructions(topo, app, proxy):
	m = "ip netns exec " + topo.machine
	c = "ip netns exec " + topo.cloud
	dirs = " ".join(app.dirs)
	ca = os.path.join(app.etc, "ca.crt")
	way = "the Squid at %s:%d, then the gateway" % (netns.SQUID_IP, netns.SQUID_PORT) if proxy \
		else "the gateway at %s:%d" % (netns.CLOUD_IP, netns.GATEWAY_PORT)
	return """
The appliance runs in %(machine)s; its only way out is %(way)s,
and only for the user arcproxy.  Try, as root, in another terminal:

  %(m)s %(bin)s/azcmagent show %(dirs)s
  %(m)s curl -x http://127.0.0.1:40343 --cacert %(ca)s https://echo.cloudsim.test/
  %(m)s curl --noproxy '*' -m 3 --cacert %(ca)s https://echo.cloudsim.test/    # dropped
  %(m)s setpriv --reuid=himds --regid=himds --init-groups curl -m 3 -k https://%(gw)s:443/   # dropped
  %(m)s nft list ruleset                     # the counters: who was dropped
  %(m)s curl -s http://127.0.0.1:40344/healthz
  %(m)s curl -s -H Metadata:true 'http://127.0.0.1:40342/metadata/instance?api-version=2020-06-01'
  %(c)s curl -s http://%(op)s/operator/machines          # "the portal": Connected
  %(c)s curl -s http://%(op)s/operator/machines/%(name)s

%(ext)sFiles: %(work)s (config %(etc)s, state %(var)s, logs *.log, cloud/stderr.log%(squid)s).
Variant C: kill cloudsim (pid %(sim)d) and watch azcmagent show and /healthz; this demo does not
start it again.  Ctrl-C stops everything and removes the namespaces and %(work)s.
""" % {"machine": topo.machine, "way": way, "m": m, "c": c, "bin": app.bin, "dirs": dirs, "ca": ca,
       "gw": netns.CLOUD_IP, "op": netns.OPERATOR, "name": app.name, "work": app.work, "etc": app.etc,
       "var": app.var, "sim": app.cloudsim.pid,
       "squid": ", squid/access.log" if proxy else "", "ext": extension_hint(topo, app)}


def extension_hint(topo, app):
	"""How to deploy the Hello sample (its enable runs plain curl), when extmgr runs."""
	if app.extmgr is None or not (REPO / "samples" / "extensions" / "pack.sh").exists():
		return ""
	body = '{"publisher":"Cloudsim.Samples","type":"Hello","version":"1.0","publicSettings":' \
		'{"bytes":1000,"caFile":"%s"}}' % os.path.join(app.etc, "ca.crt")
	return """An extension (extmgr polls every 5 s; its enable fetches echo with plain curl):
  BIN=%(bin)s samples/extensions/pack.sh hello 1.0 %(store)s %(pki)s
  ip netns exec %(cloud)s curl -s -X PUT -d '%(body)s' http://%(op)s/operator/machines/%(name)s/extensions/hello
  ip netns exec %(cloud)s curl -s http://%(op)s/operator/machines/%(name)s/extensions/hello

""" % {"bin": app.bin, "store": os.path.join(app.cloud_dir, "packages"), "pki": app.pki, "cloud": topo.cloud,
       "body": body, "op": netns.OPERATOR, "name": app.name}


def main(argv):
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument("--bin", default=str(REPO / "build" / "bin"))
	ap.add_argument("--proxy", action="store_true", help="variant B: only the enterprise Squid is reachable")
	a = ap.parse_args(argv)
	why = netns.unavailable()
	if why:
		say("cannot build the topology: " + why)
		return 2
	work = tempfile.mkdtemp(prefix="arc-firewall-demo-")
	os.chmod(work, 0o755)
	topo = netns.Topology()
	app = None

	def stop(signum, frame):
		raise KeyboardInterrupt
	signal.signal(signal.SIGTERM, stop)
	try:
		bin_dir = stage(a.bin, work)
		topo.create()
		netns.ensure_users()
		if a.proxy:
			topo.load_firewall(netns.ruleset(netns.SQUID_IP, netns.SQUID_PORT))
		else:
			topo.load_firewall(netns.ruleset())
		say("namespaces %s and %s, firewall loaded; making the PKI" % (topo.cloud, topo.machine))
		app = netns.Appliance(topo, bin_dir, os.path.join(work, "appliance"), name="demo-machine",
				      heartbeat=10)
		app.start_cloudsim()
		if a.proxy:
			app.start_squid()
		app.start_machine()
		if a.proxy:
			r = app.azcm("config", "set", "proxy.url", "http://%s:%d" % (netns.SQUID_IP, netns.SQUID_PORT))
			if r.returncode != 0:
				raise RuntimeError("azcmagent config set proxy.url: " + r.stderr.strip())
		r = app.connect()
		if r.returncode != 0:
			raise RuntimeError("azcmagent connect: exit %d: %s" % (r.returncode, r.stderr.strip()))
		print(r.stdout.rstrip())
		if app.agentlets():
			app.start_agentlets(poll=5, evaluation=30)
			say("started %s" % ", ".join(app.agentlets()))
		print(instructions(topo, app, a.proxy), flush=True)
		while app.arcproxy.alive() and app.himds.alive():
			try:
				app.arcproxy.proc.wait(1)
			except subprocess.TimeoutExpired:
				pass
		say("a machine daemon exited: stopping")
		return 1
	except KeyboardInterrupt:
		print(file=sys.stderr)
		return 0
	except (OSError, RuntimeError) as e:
		say(str(e))
		return 1
	finally:
		signal.signal(signal.SIGINT, signal.SIG_IGN)
		signal.signal(signal.SIGTERM, signal.SIG_IGN)
		if app is not None:
			app.stop()
		topo.destroy()
		shutil.rmtree(work, ignore_errors=True)
		say("stopped; namespaces and %s removed" % work)


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
