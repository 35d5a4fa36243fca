"""arcproxy's access log never drops a line silently.

Expectations:
- /metrics has arcproxy_accesslog_errors_total, 0 while the log takes every line.
- When the file cannot grow (a file size limit, as a full disk would), the lost writes are counted
  in arcproxy_accesslog_errors_total, arcproxy says so once on stderr (not once per write), and it
  keeps serving.
"""

import os
import resource
import signal
import time

import harness
from harness import Proxy, check, fetch, metric_sum, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

FSIZE = 6000	# bytes the daemon's files may reach


class SmallFileProxy(Proxy):
	"""arcproxy under RLIMIT_FSIZE, with SIGXFSZ ignored: writes past the limit fail (EFBIG)."""

	def _popen_kw(self):
		kw = super()._popen_kw()

		def limit():
			resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))
			signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
		kw["preexec_fn"] = limit
		return kw


def errors(p):
	return metric_sum(p.metrics(), "arcproxy_accesslog_errors_total")


def denied(p, n):
	"""n requests that the routes refuse: each one a line in the access log."""
	for i in range(n):
		r = fetch(p.port, "GET", "http://deny.example.test/%d/%s" % (i, "x" * 60), timeout=5)
		check(r.status == 403, "request %d: %r" % (i, r))


@test
def accesslog_errors_zero_when_fine(env):
	p = Proxy(routes=[harness.deny("deny.example.test")], name="alogok")
	p.start()
	try:
		denied(p, 20)
		check(poll(lambda: len(p.access_log_lines()) >= 20, timeout=3), "the access log has %d lines"
		      % len(p.access_log_lines()))
		m = p.metrics()
		check(any(n == "arcproxy_accesslog_errors_total" for n, _ in m),
		      "no arcproxy_accesslog_errors_total in /metrics")
		check(errors(p) == 0, "arcproxy_accesslog_errors_total %r with a healthy log" % errors(p))
	finally:
		p.cleanup()


@test(timeout=40)
def accesslog_lost_writes_counted_and_said_once(env):
	p = SmallFileProxy(routes=[harness.deny("deny.example.test")], name="alogfull")
	p.start()
	try:
		# Each line is over 100 bytes: 120 of them cannot fit in FSIZE, in several flushes.
		for _ in range(6):
			denied(p, 20)
			time.sleep(0.3)
		n = poll(lambda: errors(p) >= 2 and errors(p), timeout=5)
		check(n, "arcproxy_accesslog_errors_total %r after writing past the file size limit"
		      % errors(p))
		size = os.path.getsize(p.access_log_path())
		check(size <= FSIZE, "the access log grew to %d bytes past the limit" % size)
		said = p.stderr_text().count("arcproxy_accesslog_errors_total; said once")
		check(said == 1, "arcproxy said %d times that it lost log lines:\n%s" % (said, p.stderr_tail(10)))
		check(p.alive(), "arcproxy exited: %s" % p.stderr_tail(10))
		denied(p, 1)
	finally:
		p.cleanup()
