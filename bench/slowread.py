#!/usr/bin/env python3
"""slowread.py -- `make bench-slowread`: peak RSS of arcproxy, Traffic Server and Squid under a slow-read attack.

Each proxy is started as `make bench` starts it (run.py, one worker, on a free loopback port),
alone, with benchorigin behind it serving a 1 MiB body.  slowhttptest -X (slow read: a 1-2 byte
receive window, 1 byte read every 5 s, the request repeated 10 times per connection) opens 1,500
connections through the proxy.  The proxy's VmRSS is sampled every 0.2 s during the attack and its
VmHWM read at the end.  Printed: each proxy's RSS before, its peak, and arcproxy's peak as a ratio
of each peer's; the target is arcproxy's peak at most Traffic Server's (MET or MISSED).

usage: python3 bench/slowread.py [--bin DIR] [--seconds S] [--rate R] [--only a,b] [--keep]
Environment: SLOWREAD_SECONDS (length of each attack, slowhttptest -l, default 30),
SLOWREAD_RATE (connections opened per second, slowhttptest -r, default 150), BENCH_ONLY
(a subset of arcproxy,trafficserver,squid), BENCH_KEEP=1 (keep the temp dir).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from run import Origin, start_arcproxy, start_squid, start_trafficserver
from services import chown_to, ensure_user, is_root, say, version_of

REPO = Path(__file__).resolve().parents[1]
PROXIES = ["arcproxy", "trafficserver", "squid"]
BINARIES = {"trafficserver": "traffic_server", "squid": "squid"}
BODY = 1 << 20
CONNECTIONS = 1500
# slowhttptest -X -c 1500 -k 10 -n 5 -w 1 -y 2 -z 1: the attack of issue 15.
ATTACK = ["-X", "-c", str(CONNECTIONS), "-k", "10", "-n", "5", "-w", "1", "-y", "2", "-z", "1"]


def rss_kib(pid, field="VmRSS"):
	try:
		with open("/proc/%d/status" % pid) as f:
			for line in f:
				if line.startswith(field + ":"):
					return int(line.split()[1])
	except (OSError, ValueError):
		pass
	return None


def established(port):
	"""Established TCP connections to the proxy's port (ss), or None."""
	try:
		p = subprocess.run(["ss", "-Htn", "state", "established", "( sport = :%d )" % port],
				   capture_output=True, text=True, timeout=10)
		return len(p.stdout.splitlines())
	except (OSError, subprocess.TimeoutExpired):
		return None


def attack(svc, origin, seconds, rate, work):
	"""Run slowhttptest through svc; returns a dict of the numbers."""
	out = {"rss_before_kib": rss_kib(svc.pid), "samples": 0}
	peak, most = [out["rss_before_kib"] or 0], [0]
	stop = threading.Event()

	def sample():
		n = 0
		while not stop.is_set():
			v = rss_kib(svc.pid)
			if v is not None:
				peak[0] = max(peak[0], v)
			if n % 10 == 0:
				c = established(svc.port)
				if c is not None:
					most[0] = max(most[0], c)
			n += 1
			out["samples"] = n
			time.sleep(0.2)
	t = threading.Thread(target=sample, daemon=True)
	t.start()
	argv = ["slowhttptest", *ATTACK, "-l", str(int(seconds)), "-r", str(int(rate)),
		"-u", "http://%s/bytes/%d" % (origin.http, BODY), "-d", "127.0.0.1:%d" % svc.port]
	log = os.path.join(work, "slowhttptest-%s.log" % svc.name)
	t0 = time.monotonic()
	with open(log, "wb") as f:
		try:
			rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
					    timeout=seconds + 120).returncode
		except subprocess.TimeoutExpired:
			rc = "timeout"
	out["attack_seconds"] = round(time.monotonic() - t0, 1)
	stop.set()
	t.join(5)
	out["slowhttptest_exit"] = rc
	out["rss_peak_kib"] = max(peak[0], rss_kib(svc.pid, "VmHWM") or 0)
	out["rss_sampled_peak_kib"] = peak[0]
	out["connections_seen"] = most[0]
	out["alive"] = svc.alive()
	out["argv"] = " ".join(argv)
	return out


def mib(kib):
	return "%.0f" % (kib / 1024) if kib is not None else "-"


def main(argv):
	ap = argparse.ArgumentParser(description="peak RSS under slowhttptest -X, arcproxy and its peers")
	ap.add_argument("--bin", default=str(REPO / "build" / "bin"))
	ap.add_argument("--seconds", type=float, default=float(os.environ.get("SLOWREAD_SECONDS") or 30))
	ap.add_argument("--rate", type=float, default=float(os.environ.get("SLOWREAD_RATE") or 150))
	ap.add_argument("--only", default=os.environ.get("BENCH_ONLY") or ",".join(PROXIES))
	ap.add_argument("--keep", action="store_true", default=os.environ.get("BENCH_KEEP") == "1")
	a = ap.parse_args(argv)
	bin_dir = Path(a.bin)
	if not bin_dir.is_absolute():
		bin_dir = REPO / bin_dir
	wanted = [p for p in a.only.split(",") if p in PROXIES]
	if not wanted:
		say("choose from %s" % ", ".join(PROXIES))
		return 2
	if shutil.which("slowhttptest") is None:
		say("slowhttptest is not installed (apt-get install slowhttptest)")
		return 2
	for exe in ("benchorigin", "arcproxy"):
		if not (bin_dir / exe).exists():
			say("%s not found in %s: run make first" % (exe, bin_dir))
			return 2
	if not (10 <= a.seconds <= 600):
		say("SLOWREAD_SECONDS must be from 10 to 600")
		return 2
	work = tempfile.mkdtemp(prefix="arcbench-slowread-")
	os.chmod(work, 0o755)
	rev = version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
	results, skipped, origin = {}, {}, None
	try:
		origin = Origin(bin_dir, work)
		say("origin: http %s; attack: slowhttptest %s -l %d -r %d, %d-byte body"
		    % (origin.http, " ".join(ATTACK), a.seconds, a.rate, BODY))
		for name in wanted:
			if name in BINARIES and shutil.which(BINARIES[name]) is None:
				skipped[name] = "not installed"
				continue
			try:
				if name == "arcproxy":
					svc = start_arcproxy(work, bin_dir, rev)
				elif name == "trafficserver":
					if is_root():
						ensure_user("trafficserver")
					svc = start_trafficserver(work)
				else:
					svc = start_squid(work)
			except (OSError, RuntimeError, subprocess.SubprocessError) as e:
				skipped[name] = "cannot start: %s" % e
				continue
			try:
				if not svc.wait_listening():
					skipped[name] = "did not listen: %s" % svc.tail()
					continue
				time.sleep(1.0)
				say("%s: pid %d, port %d (%s): attacking for %ds"
				    % (name, svc.pid, svc.port, svc.version, a.seconds))
				results[name] = attack(svc, origin, a.seconds, a.rate, work)
				results[name]["version"] = svc.version
				r = results[name]
				say("%s: RSS %s MiB before, peak %s MiB; %d connections at most; %s"
				    % (name, mib(r["rss_before_kib"]), mib(r["rss_peak_kib"]),
				       r["connections_seen"], "alive" if r["alive"] else "DIED"))
			finally:
				svc.stop()
	finally:
		if origin is not None:
			origin.stop()
		if not a.keep:
			shutil.rmtree(work, ignore_errors=True)
		else:
			say("kept %s" % work)
	for p, why in skipped.items():
		say("skipped %s: %s" % (p, why))

	print()
	print("slow read (slowhttptest %s, %d s): peak RSS" % (" ".join(ATTACK), a.seconds))
	print("%-14s %10s %10s %12s %14s" % ("proxy", "before MiB", "peak MiB", "connections", "arcproxy / it"))
	arc = results.get("arcproxy", {}).get("rss_peak_kib")
	for p in PROXIES:
		r = results.get(p)
		if r is None:
			continue
		ratio = "%.2f" % (arc / r["rss_peak_kib"]) if arc and r["rss_peak_kib"] else "-"
		print("%-14s %10s %10s %12d %14s" % (p, mib(r["rss_before_kib"]), mib(r["rss_peak_kib"]),
						     r["connections_seen"], ratio))
	ok = True
	for p, r in results.items():
		if not r["alive"]:
			print("%s died under the attack" % p)
			ok = ok and p != "arcproxy"
	ats = results.get("trafficserver", {}).get("rss_peak_kib")
	if arc and ats:
		met = arc <= ats
		print("target: arcproxy's peak RSS at most Traffic Server's (%s MiB <= %s MiB): %s"
		      % (mib(arc), mib(ats), "MET" if met else "MISSED"))
		ok = ok and met
	else:
		print("target: arcproxy's peak RSS at most Traffic Server's: not measured (%s)"
		      % ("no arcproxy" if not arc else "no trafficserver"))
	return 0 if ok else 1


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
