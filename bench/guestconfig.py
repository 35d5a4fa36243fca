#!/usr/bin/env python3
"""guestconfig.py -- `make bench-guestconfig`: guestconfig's idle private memory (Pss_Anon).

Starts what the integration tests start (tests/integration/fx_guestconfig.py: cloudsim, arcproxy in
gateway mode, the machine connected with azcmagent, guestconfig as root), gives guestconfig ASSIGNMENTS
assignments of a small document (file and file_line resources, Audit) and lets each be evaluated and
reported; then, with nothing due, reads Pss_Anon from /proc/<pid>/smaps_rollup a few times and reports
the largest against the issue's bound of 4 MiB.  Exit status 1 when it is above the bound.

usage: python3 bench/guestconfig.py [--bin DIR] [--assignments N] [--json FILE]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMIT_KIB = 4096


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--bin", default=str(HERE.parent / "build" / "bin"))
	ap.add_argument("--assignments", type=int, default=10)
	ap.add_argument("--json", default=str(HERE / "results" / "guestconfig.json"))
	args = ap.parse_args()
	os.environ["ARC_BIN"] = str(Path(args.bin).resolve())
	sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
	import fx_guestconfig as fx
	from harness import poll

	# Evaluations every 600 s: after the first round nothing is due, guestconfig sits idle.
	env = fx.gc_env(evaluation_seconds=600, poll_seconds=300)
	problems = []
	try:
		t = fx.targets(env, "bench")
		res = []
		for i in range(20):
			p = os.path.join(t, "f%02d.conf" % i)
			fx.write(p, "key = %d\nPermitRootLogin yes\n" % i, 0o644)
			res.append({"id": "f%02d" % i, "type": "file", "properties": {"path": p, "mode": "0600"}})
			res.append({"id": "l%02d" % i, "type": "file_line", "properties": {
				"path": p, "regex": "^PermitRootLogin", "line": "PermitRootLogin no"}})
		uri, sha = fx.pack(env, {"schemaVersion": 1, "name": "bench", "resources": res}, "bench")
		names = ["bench%02d" % i for i in range(args.assignments)]
		for n in names:
			fx.assign(env, n, uri, sha, kind="Audit")
		env.gc.reload()	# poll now
		if not poll(lambda: all(fx.reports(env, n) for n in names), timeout=60, interval=0.5):
			raise SystemExit("guestconfig.py: not every assignment was reported\n" + env.gc.stderr_tail())
		time.sleep(2)
		samples = []
		for _ in range(5):
			samples.append(env.gc.pss_anon_kib())
			time.sleep(0.5)
		pss = max(samples)
		ok = pss is not None and pss <= LIMIT_KIB
		line = ("guestconfig idle Pss_Anon: %d KiB with %d assignments of %d resources each "
			"(bound %d KiB): %s" % (pss, len(names), len(res), LIMIT_KIB, "ok" if ok else "ABOVE"))
		print(line)
		os.makedirs(os.path.dirname(args.json), exist_ok=True)
		with open(args.json, "w") as f:
			json.dump({"pss_anon_kib": pss, "samples_kib": samples, "assignments": len(names),
				   "resources_per_assignment": len(res), "bound_kib": LIMIT_KIB, "ok": ok}, f, indent=1)
		for n in names:
			fx.unassign(env, n)
	finally:
		problems = fx.stop_gc_env(env)
	for p in problems:
		print("guestconfig.py: %s" % p, file=sys.stderr)
	sys.exit(0 if ok and not problems else 1)


if __name__ == "__main__":
	main()
