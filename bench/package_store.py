#!/usr/bin/env python3
"""package_store.py -- cloudsim's package store against its echo service: a 256 MiB package and
/bytes/268435456 fetched with plain `curl -x` through arcproxy (h2) and cloudsim's gateway, the
same route extmgr downloads over, median of ROUNDS each, in one run.

usage: ARC_BIN=build/bin python3 bench/package_store.py [MIB] [ROUNDS]
Prints each time, both medians and package / echo (the store should add nothing: <= 1.10), and
how long `cloudsim ext-pack` took to pack the random data.  Everything runs in a temp dir on
loopback, started and stopped here (tests/integration's fixtures).
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))

import fixtures			# noqa: E402
import test_control as tc	# noqa: E402


def main():
	mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
	rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
	sim = tc.ControlSim()
	for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1")):
		r = sim.run(*args)
		if r.returncode != 0:
			sys.exit("cloudsim %s: %s" % (args[0], r.stderr))
	sim.write_config()
	env = tc.Env(sim)
	src = os.path.join(sim.base, "handler")
	os.makedirs(src)
	with open(os.path.join(src, "HandlerManifest.json"), "w") as f:
		f.write("[]\n")
	with open(os.path.join(src, "payload.bin"), "wb") as f:
		for _ in range(mib):
			f.write(os.urandom(1 << 20))
	for d in (sim.base, src):
		os.chmod(d, 0o755)
	for name in os.listdir(src):
		os.chmod(os.path.join(src, name), 0o644)
	t = time.monotonic()
	r = sim.run("ext-pack", src, "--publisher", "Cloudsim.Samples", "--type", "Bench", "--version", "1.0",
		    "-o", os.path.join(sim.state_dir, "packages"), "--pki", sim.pki, timeout=600)
	pack_s = time.monotonic() - t
	if r.returncode != 0:
		sys.exit("ext-pack: %s" % r.stderr)
	size = os.path.getsize(os.path.join(sim.state_dir, "packages", "Cloudsim.Samples.Bench-1.0.zip"))
	sim.start()
	times = {"package": [], "echo": []}
	urls = {"package": "https://packages.cloudsim.test/packages/Cloudsim.Samples.Bench-1.0.zip",
		"echo": "https://echo.cloudsim.test/bytes/%d" % size}
	try:
		p = fixtures.arcproxy_via(env, "h2", cert="m1", name="pkgbench")
		for i in range(rounds):
			for what in ("package", "echo"):
				t = time.monotonic()
				r = fixtures.curl_via(p, sim, "-o", os.devnull, "-w", "%{size_download}", urls[what],
						      timeout=600)
				took = time.monotonic() - t
				got = int(r.stdout or b"0")
				if r.returncode != 0 or got != size:
					sys.exit("%s: curl exit %d, %d of %d bytes: %s" % (what, r.returncode, got, size,
											   r.stderr.decode(errors="replace")))
				times[what].append(took)
				print("round %d %-7s %7.3f s  %6.1f MiB/s" % (i + 1, what, took, size / took / (1 << 20)))
	finally:
		problems = fixtures.stop_cloudsim_env(env)
		for pr in problems:
			print("problem: %s" % pr)
	pkg, echo = statistics.median(times["package"]), statistics.median(times["echo"])
	print("ext-pack of %d MiB: %.2f s; %d bytes" % (mib, pack_s, size))
	print("median: package %.3f s, echo %.3f s; package / echo = %.2f (target <= 1.10: %s)"
	      % (pkg, echo, pkg / echo, "MET" if pkg / echo <= 1.10 else "MISSED"))


if __name__ == "__main__":
	main()
