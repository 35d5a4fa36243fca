#!/usr/bin/env python3
"""remote.py -- `make bench-remote`: remote sessions through the gateway, against plain ssh on loopback.

The setup of tests/integration/test_remote.py (fx_remote): cloudsim with its control plane,
notification service and relay; arcproxy in gateway mode with a registered machine; arcnotify;
a real sshd on a loopback port that incomingconnections.ports allows.  Measured in the same run:
- setup: from starting `cloudsim remote MACHINE PORT` to the first byte of sshd's banner on its
  stdout (the operator's request, the channel message, the local port, the relay through arcproxy
  and the gateway, the rendezvous), N times: median, p90, max;
- bulk: BYTES through `ssh ... 'cat >/dev/null'` with cloudsim remote as ProxyCommand, and the same
  to sshd's port directly (plain ssh on loopback, the same cipher), each best of R runs: MB/s and
  the ratio session/plain.

usage: python3 bench/remote.py [--bin DIR] [--setups N] [--mib M] [--runs R]   (as root)
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def args():
	ap = argparse.ArgumentParser(description="remote sessions vs plain ssh")
	ap.add_argument("--bin", default="build/bin")
	ap.add_argument("--setups", type=int, default=20)
	ap.add_argument("--mib", type=int, default=256)
	ap.add_argument("--runs", type=int, default=3)
	return ap.parse_args()


def first_byte(env, fx):
	"""Seconds from starting cloudsim remote to the first byte of sshd's banner."""
	t0 = time.monotonic()
	p = subprocess.Popen([str(fx.fixtures.CLOUDSIM), "remote", fx.MACHINE, str(env.sshd.port),
			      "--operator", env.sim.operator_url()],
			     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
	b = p.stdout.read(1)
	took = time.monotonic() - t0
	p.stdin.close()
	p.kill()
	p.wait(10)
	if b != b"S":
		raise SystemExit("remote.py: no banner through the session: %r %s" % (b, p.stderr.read()))
	return took


def bulk(env, fx, nbytes, through_session):
	"""Seconds to push nbytes through ssh 'cat >/dev/null'."""
	if through_session:
		opts = env.sshd.ssh_args(proxy_command=fx.remote_command(env))
		target = "%s@arc-remote-it" % env.sshd.user
	else:
		opts = env.sshd.ssh_args(port=env.sshd.port)
		target = "%s@127.0.0.1" % env.sshd.user
	chunk = os.urandom(1 << 20)
	t0 = time.monotonic()
	p = subprocess.Popen(["ssh", *opts, "-o", "Ciphers=aes128-gcm@openssh.com", target,
			      "cat >/dev/null"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
			     stderr=subprocess.PIPE)
	for _ in range(nbytes >> 20):
		p.stdin.write(chunk)
	p.stdin.close()
	rc = p.wait(600)
	took = time.monotonic() - t0
	if rc != 0:
		raise SystemExit("remote.py: ssh exited %d: %s" % (rc, p.stderr.read()))
	return took


def main():
	a = args()
	os.environ["ARC_BIN"] = str(Path(a.bin).resolve())
	sys.path.insert(0, str(REPO / "tests" / "integration"))
	import fx_remote as fx
	import harness

	if os.geteuid() != 0:
		raise SystemExit("remote.py: run as root (arcnotify's user, the identity's group)")
	env = fx.remote_env()
	try:
		setups = sorted(first_byte(env, fx) for _ in range(a.setups))
		nbytes = a.mib << 20
		# The same run, alternated, best of each: the machine is noisy.
		via, plain = [], []
		for _ in range(a.runs):
			via.append(bulk(env, fx, nbytes, True))
			plain.append(bulk(env, fx, nbytes, False))
	finally:
		problems = fx.stop_remote_env(env)
		harness.cleanup_all()
	p90 = setups[min(len(setups) - 1, int(len(setups) * 0.9))]
	print("remote sessions (arcnotify through arcproxy and the gateway), %d setups, %d MiB x %d"
	      % (a.setups, a.mib, a.runs))
	print("  setup to first byte: median %.1f ms, p90 %.1f ms, max %.1f ms"
	      % (statistics.median(setups) * 1e3, p90 * 1e3, setups[-1] * 1e3))
	mb_via = nbytes / min(via) / 1e6
	mb_plain = nbytes / min(plain) / 1e6
	print("  bulk ssh 'cat >/dev/null': session %.0f MB/s, plain ssh on loopback %.0f MB/s, "
	      "ratio %.2f" % (mb_via, mb_plain, mb_via / mb_plain))
	if problems:
		print("remote.py: problems at teardown:\n" + "\n".join(problems))
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main())
