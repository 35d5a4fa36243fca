#!/usr/bin/env python3
"""extmgr.py -- extmgr in `make bench`: its idle cost, and a 256 MiB package fetched, verified and
unpacked against a plain `curl -x` of the same file through the same route.

usage: python3 bench/extmgr.py [--bin build/bin] [--mib 256] [--runs 3] [--json FILE]

The set-up is the integration suite's (tests/integration/fx_extmgr.py): cloudsim with its control
plane and package store, arcproxy in gateway mode (h2 to the gateway), a registered machine, himds
and extmgr. Measured, in one run:
- idle: extmgr's Pss_Anon (/proc/PID/smaps_rollup) after its first pass, and the CPU ticks it uses
  over 5 s between two polls (poll_seconds 300), which must be 0;
- the package: an extension whose package holds MIB MiB of random bytes (incompressible) is
  deployed; extmgr's time is from its "Download transitioning" report to its "Verify success"
  report (download through arcproxy and the gateway with libcurl, size, SHA-256 and CMS signature
  checked, unpacked), taken from its log's millisecond timestamps; the baseline is
  `curl -x arcproxy -o FILE` of the same URL, the same route. Best of RUNS each; the ratio must be
  at most 1.3 (issue 11).
Exits 1 when a bound is not met.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

IDLE_PSS_MAX = 4 * 1024 * 1024
RATIO_MAX = 1.3


def pss_anon(pid):
	with open("/proc/%d/smaps_rollup" % pid) as f:
		m = re.search(r"^Pss_Anon:\s+(\d+) kB", f.read(), re.M)
	return int(m.group(1)) * 1024


def cpu_ticks(pid):
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	return int(fields[11]) + int(fields[12])


def log_time(line):
	return datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def report_times(x, ext, since):
	"""(start, end) of the last Download transitioning .. Verify success of ext in extmgr's log."""
	start = end = None
	for line in x.stderr_text().splitlines()[since:]:
		if re.search(r" %s Download transitioning: " % ext, line):
			start = log_time(line)
		elif re.search(r" %s Verify success: " % ext, line):
			end = log_time(line)
	return start, end


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"))
	ap.add_argument("--mib", type=int, default=256)
	ap.add_argument("--runs", type=int, default=3)
	ap.add_argument("--json")
	a = ap.parse_args()
	os.environ["ARC_BIN"] = os.path.abspath(a.bin)
	sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
	import fx_extmgr as fx
	from harness import poll

	result = {}
	env = fx.extmgr_env(poll_seconds=300, download_stall_seconds=60)
	try:
		x = env.extmgr
		# Idle: after the first pass (the settings certificate registered, an empty goal).
		if not poll(lambda: re.search(r"goal state \d+: 0 extensions", x.stderr_text()), timeout=30):
			raise SystemExit("extmgr made no first pass\n" + x.stderr_tail())
		time.sleep(1.0)
		t0 = cpu_ticks(x.proc.pid)
		time.sleep(5.0)
		idle_ticks = cpu_ticks(x.proc.pid) - t0
		idle_pss = pss_anon(x.proc.pid)
		result["idle_pss_anon_bytes"] = idle_pss
		result["idle_cpu_ticks_5s"] = idle_ticks

		# The package: MIB MiB of random bytes and trivial handlers.
		d = fx.handler_dir(env, "big", {
			"HandlerManifest.json": (json.dumps([{"name": "Big", "version": 1.0, "handlerManifest": {
				"installCommand": "true", "enableCommand": "true", "updateCommand": "true",
				"disableCommand": "true", "uninstallCommand": "true"}}]), 0o644)})
		with open(os.path.join(d, "payload.bin"), "wb") as f:
			for _ in range(a.mib):
				f.write(os.urandom(1 << 20))
		fname = fx.publish(env, None, "1.0", handler_dir=d, type_name="Big")
		os.unlink(os.path.join(d, "payload.bin"))
		url = "https://packages.cloudsim.test/packages/" + fname
		size = os.path.getsize(fx.package_path(env, fname))
		out = os.path.join(env.tmp, "curl.out")
		curl_times, ext_times = [], []
		for i in range(a.runs):
			t = time.monotonic()
			r = subprocess.run(["curl", "-sS", "-x", "http://127.0.0.1:%d" % env.arcproxy.port, "--cacert",
					    env.sim.file("ca.crt"), "-o", out, url], capture_output=True, text=True, timeout=600)
			curl_times.append(time.monotonic() - t)
			if r.returncode != 0 or os.path.getsize(out) != size:
				raise SystemExit("curl -x %s: %s" % (url, r.stderr))
			os.unlink(out)
			since = len(x.stderr_text().splitlines())
			v = fx.deploy(env, "big", type_name="Big")
			x.reload()	# a pass now, not in 300 s
			fx.wait_status(env, "big", v["sequenceNumber"], status=("success", "transitioning"),
				       operation="Enable", timeout=600)
			start, end = report_times(x, "big", since)
			if start is None or end is None:
				raise SystemExit("no Download/Verify reports in extmgr's log\n" + x.stderr_tail())
			ext_times.append(end - start)
			fx.undeploy(env, "big")
			x.reload()
			fx.wait_gone(env, "big", timeout=120)
		best_curl, best_ext = min(curl_times), min(ext_times)
		result.update({"package_bytes": size, "curl_seconds": curl_times, "extmgr_seconds": ext_times,
			       "ratio": best_ext / best_curl})
	finally:
		problems = fx.stop_extmgr_env(env)
	ok = True
	print("extmgr idle: Pss_Anon %.2f MiB (bound %.0f MiB), CPU over 5 s between polls: %d ticks (bound 0)"
	      % (idle_pss / 1048576, IDLE_PSS_MAX / 1048576, idle_ticks))
	if idle_pss > IDLE_PSS_MAX or idle_ticks != 0:
		ok = False
	print("extmgr package of %.0f MiB: download+verify+unpack %.2f s, curl -x %.2f s (best of %d): ratio %.2f "
	      "(bound %.1f)" % (result["package_bytes"] / 1048576, best_ext, best_curl, a.runs, result["ratio"],
				RATIO_MAX))
	if result["ratio"] > RATIO_MAX:
		ok = False
	for p in problems:
		print("problem: " + p)
		ok = False
	if a.json:
		with open(a.json, "w") as f:
			json.dump(result, f, indent=1)
	print("extmgr bench: %s" % ("within bounds" if ok else "OUT OF BOUNDS"))
	return 0 if ok else 1


if __name__ == "__main__":
	sys.exit(main())
