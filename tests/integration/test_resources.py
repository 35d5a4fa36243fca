"""Resources under attack: open files and buffered memory (issue 15, defects 9 and 11).

Expectations:
- Open files: arcproxy raises its soft RLIMIT_NOFILE to the hard limit at start and sizes
  limits.max_connections to what fits (a client and an upstream descriptor each, plus a reserve),
  logging the numbers once.  With RLIMIT_NOFILE 256 (soft = hard) and more CONNECT tunnels than
  fit, the excess get 503 at once, never 500 and never silence; the earlier tunnels still relay;
  the log has no flood of accept back-off lines; the proxy serves again once they close.
- Buffered memory: with a small limits.buffered_bytes_max, many clients that request a large
  download and read it slowly (or not at all) cannot push arcproxy_buffered_bytes past the
  budget (plus one read per worker), and a normal client's download still completes meanwhile.
"""

import re
import resource
import socket
import time

from harness import (Conn, Proxy, check, fetch, healthy, metric_sum, origin, payload, poll, std_routes,
		     test)

NOFILE = 256


def setup():
	return None


def teardown(env):
	return []


def _open_tunnels(p, target, want, timeout=2.0):
	"""CONNECT up to want tunnels; returns (open Conns, statuses); None stands for no answer."""
	tunnels, statuses, silent = [], [], 0
	for _ in range(want):
		try:
			c = Conn(p.port, timeout=timeout)
		except OSError:
			statuses.append(None)
			silent += 1
			if silent >= 3:
				break
			continue
		try:
			r = c.connect_tunnel(target)
		except (OSError, EOFError, socket.timeout):
			c.close()
			statuses.append(None)
			silent += 1
			if silent >= 3:
				break
			continue
		statuses.append(r.status)
		if r.status == 200:
			tunnels.append(c)
		else:
			c.close()
	return tunnels, statuses


@test(timeout=90)
def fd_limit_gives_503(env):
	o = origin()
	p = Proxy(routes=std_routes(o), nofile=NOFILE, name="fdlimit").start()
	tunnels = []
	try:
		healthy(p, "at start")
		tunnels, statuses = _open_tunnels(p, "127.0.0.1:%d" % o.echo_port, NOFILE)
		ok = statuses.count(200)
		check(None not in statuses, "CONNECTs with no answer at all (accept back-off?): %d of %d; "
		      "answers %s" % (statuses.count(None), len(statuses), sorted(set(map(str, statuses)))))
		check(500 not in statuses, "%d CONNECTs got 500 when out of descriptors (want 503)"
		      % statuses.count(500))
		check(ok >= 32, "only %d tunnels fit under %d descriptors" % (ok, NOFILE))
		check(statuses.count(503) == len(statuses) - ok,
		      "over the limit, answers other than 503: %s" % sorted(set(map(str, statuses))))
		check(statuses.count(503) > 0, "no 503 for %d tunnels under %d descriptors" % (len(statuses), NOFILE))
		check(statuses[:ok] == [200] * ok, "a 503 came before the last 200: %s" % statuses)
		check(p.fd_count() <= NOFILE - 8, "arcproxy holds %d of %d descriptors: no reserve left"
		      % (p.fd_count(), NOFILE))
		for i, c in enumerate(tunnels):
			msg = b"tunnel %d\n" % i
			c.send(msg)
			check(c.read_exact(len(msg)) == msg, "tunnel %d of %d stopped relaying" % (i, ok))
		m = p.metrics()
		check(metric_sum(m, "arcproxy_errors_total", kind="internal") == 0,
		      "arcproxy counted internal errors")
		backoffs = len(re.findall(r"accept: .*pausing", p.stderr_text()))
		check(backoffs <= 1, "%d accept back-off lines in the log" % backoffs)
		check(p.log_has(r"open files limit %d .*max_connections \d+ lowered to \d+" % NOFILE),
		      "no start-up line with the open files limit and the lowered max_connections:\n%s"
		      % p.stderr_tail(10))
	finally:
		for c in tunnels:
			c.close()
	try:
		check(poll(lambda: fetch(p.port, "GET", "http://127.0.0.1:%d/bytes/10" % o.http_port,
					 timeout=3).status == 200, timeout=5, interval=0.3),
		      "not serving again after the tunnels closed")
	finally:
		p.stop()
		rep = p.sanitizer_report()
		p.cleanup()
	check(rep is None, "sanitizer: %s" % rep)


@test
def soft_nofile_raised_to_hard(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="fdraise")
	kw = p._popen_kw()
	kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, 4096))
	p._popen_kw = lambda: kw
	p.start()
	try:
		with open("/proc/%d/limits" % p.pid) as f:
			m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", f.read(), re.M)
		check(m and m.group(1) == "4096", "soft RLIMIT_NOFILE %s (hard %s): not raised to the hard limit"
		      % (m and m.group(1), m and m.group(2)))
		check(p.log_has(r"open files limit 4096\b"), "no start-up line with the open files limit:\n%s"
		      % p.stderr_tail(10))
		healthy(p, "after raising the limit")
	finally:
		p.stop()
		p.cleanup()
