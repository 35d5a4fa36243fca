"""Listening sockets out of descriptors: arcproxy's admin port (admin_listen, an evhttp listener).

Expectations:
- When accept(2) on the admin port runs out of descriptors (any local user can hold idle
  connections to it), arcproxy pauses accepting instead of spinning: little CPU, a few log lines
  saying "accept: ...; pausing" (not one per attempt), and it keeps running.
- Once the connections go, GET /healthz answers 200 again, and /metrics counts the admin port's
  pauses in arcproxy_accept_backoffs_total (as it counts the proxy ports').
(himds's API port: test_review_himds; arcproxy's proxy ports: test_limits.emfile_backoff.)
"""

import re
import socket
import time
import types

import harness
from harness import Proxy, check, poll, test

# CPU seconds of a daemon under a flood: alone, not beside other modules' load.
PARALLEL = False

NOFILE = 160		# arcproxy's descriptor limit in this module (as test_limits.emfile_backoff)
FLOOD = NOFILE + 40	# idle connections to the admin port: the backlog takes what arcproxy cannot


def setup():
	return types.SimpleNamespace(proxy=Proxy(name="acceptlimits", nofile=NOFILE).start(), extra=[])


def teardown(env):
	return harness.stop_env(env)


def healthz(p):
	try:
		return p.admin_get("/healthz", timeout=2)[0]
	except OSError as e:
		return repr(e)


def pause_lines(p):
	return len(re.findall(r"accept: .*pausing", p.stderr_text()))


@test(timeout=40)
def admin_port_out_of_descriptors_pauses_accepting(env):
	p = env.proxy
	check(healthz(p) == 200, "GET /healthz at start: %r" % (healthz(p),))
	socks = []
	try:
		for _ in range(FLOOD):
			s = socket.socket()
			s.settimeout(2)
			s.connect(("127.0.0.1", p.admin_port))
			socks.append(s)
		check(poll(lambda: p.fd_count() >= NOFILE - 1, timeout=5),
		      "arcproxy holds %d descriptors of %d" % (p.fd_count(), NOFILE))
		lines0 = len(p.stderr_text().splitlines())
		t0, c0 = time.monotonic(), p.cpu_seconds()
		time.sleep(1.5)
		used = (p.cpu_seconds() - c0) / (time.monotonic() - t0)
		grew = len(p.stderr_text().splitlines()) - lines0
		check(p.alive(), "arcproxy exited %s out of descriptors" % p.proc.returncode)
		check(used < 0.25, "out of descriptors on the admin port, arcproxy spins: %.0f%% of a CPU"
		      % (used * 100))
		check(grew <= 5, "out of descriptors, arcproxy logged %d lines in 1.5 s:\n%s"
		      % (grew, p.stderr_tail(5)))
		check(pause_lines(p) >= 1, "no \"accept: ...; pausing\" line:\n%s" % p.stderr_tail(5))
	finally:
		for s in socks:
			s.close()
	check(poll(lambda: healthz(p) == 200, timeout=15, interval=0.5),
	      "after the flood, GET /healthz: %r" % (healthz(p),))
	# Only the admin port was flooded: the workers never paused, so what /metrics counts are
	# the admin port's own pauses (one per 100 ms of the 1.5 s at least, less the lines' rate).
	backoffs = p.metrics().get(("arcproxy_accept_backoffs_total", frozenset()), 0)
	check(backoffs >= 5, "/metrics counts %d accept pauses of the admin port, which paused "
	      "for 1.5 s (%d lines)" % (int(backoffs), pause_lines(p)))
