#!/usr/bin/env python3
"""run.py -- run the arcproxy integration scenarios.

usage: python3 tests/integration/run.py [-v] [-l] [-j N] [FILTER ...]

Runs every @test in tests/integration/test_*.py (test_tools first, then file order, then
definition order),
or only those whose "module.name" contains one of the FILTERs. Prints PASS/FAIL/SKIP
per test and, last, "integration: N passed, N failed"; exits 1 if any failed.
-j N (or ARC_JOBS, default 4): the modules that say PARALLEL run N at a time, each in a
process of its own, its lines printed together when it ends; the others one at a time after
them (see "modules in parallel" below); -j 1 runs every module in this process, in order.
Environment: ARC_BIN (directory holding arcproxy, default build/bin), ARC_KEEP=1 keeps
the temp dirs, ARC_RUN_AS (user to start arcproxy as when root, default nobody), ARC_STAGE=0
(do not copy the programs when ARC_RUN_AS cannot reach them). A process that a module leaves
running after its teardown is killed and counted as a failure. With -j N, a module that failed
runs once more, alone (when at most RERUN_MAX did): if it passes, "FLAKY module" follows its
first run's FAIL lines and the counts are the second run's.
"""

import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import fixtures  # noqa: E402
import fx_remote  # noqa: E402
import netns  # noqa: E402

SETUP_TIMEOUT = 30
RERUN_MAX = 3		# failed modules run once more, alone, when there are at most this many
TEARDOWN_TIMEOUT = 30


def run_bounded(fn, args, timeout):
	"""Run fn(*args) in a thread; returns ("ok", value) | ("error", exc) | ("timeout", None)."""
	box = {}

	def body():
		try:
			box["value"] = fn(*args)
		except BaseException as e:	# a test's failure of any kind is reported, not raised
			box["error"] = e
	t = threading.Thread(target=body, daemon=True)
	t.start()
	t.join(timeout)
	if t.is_alive():
		return "timeout", None
	if "error" in box:
		return "error", box["error"]
	return "ok", box.get("value")


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
	"""What a test starts and then orphans (a daemon that forks, a child of a killed shell)
	is reparented to this process rather than to init, so leftovers() still sees it."""
	try:
		ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	except (OSError, AttributeError):
		pass


def children():
	"""{pid: name} of this process's live children (zombies left out)."""
	me, out = str(os.getpid()), {}
	for d in os.listdir("/proc"):
		if not d.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % d) as f:
				stat = f.read()
		except OSError:
			continue
		name = stat[stat.find("(") + 1:stat.rfind(")")]
		fields = stat[stat.rfind(")") + 2:].split()
		if len(fields) > 1 and fields[1] == me and fields[0] not in ("Z", "X"):
			out[int(d)] = name
	return out


def leftovers(before, short):
	"""Every test stops what it started, even when it fails: after a module's teardown (or
	its failed setup), a process it started that still runs is killed and is a failure."""
	left = {pid: name for pid, name in children().items() if pid not in before}
	if not left:
		return 0
	for pid in left:
		try:
			os.kill(pid, signal.SIGKILL)
		except OSError:
			pass
	print("FAIL %s.teardown: left running: %s" % (short, ", ".join(
		"%s (pid %d)" % (name, pid) for pid, name in sorted(left.items()))), flush=True)
	return 1


def indent(text, prefix="    "):
	return "\n".join(prefix + line for line in text.splitlines())


def first_line(e):
	s = str(e).strip() or type(e).__name__
	if not isinstance(e, (AssertionError, harness.Skip)):
		s = "%s: %s" % (type(e).__name__, s)
	return s.splitlines()[0]


def setup_module(mod, verbose):
	"""Returns (env, None) or (None, "setup: reason")."""
	if not hasattr(mod, "setup"):
		return None, None
	kind, val = run_bounded(mod.setup, (), SETUP_TIMEOUT)
	if kind == "ok":
		return val, None
	err = "setup: " + ("timed out" if kind == "timeout" else first_line(val))
	if kind == "error" and verbose:
		err += "\n" + indent(harness.format_exc(val))
	return None, err


def teardown_module(mod, env, short):
	"""Stops the module's daemons; returns 1 if that showed a problem (crash, sanitizer)."""
	if env is None or not hasattr(mod, "teardown"):
		return 0
	kind, val = run_bounded(mod.teardown, (env,), TEARDOWN_TIMEOUT)
	problems = val if kind == "ok" else ["teardown " + (kind if kind == "timeout" else first_line(val))]
	if not problems:
		return 0
	print("FAIL %s.teardown: %s" % (short, problems[0].splitlines()[0]), flush=True)
	print(indent("\n".join(problems)), flush=True)
	return 1


def run_module(modname, filters, verbose):
	"""Run the module's tests that the filters select (setup, tests, teardown, leftovers),
	printing a line per test; returns (passed, failed, skipped, seconds)."""
	mod = sys.modules[modname]
	short = short_name(modname)
	tests = selected(modname, filters)
	passed = failed = skipped = 0
	before = children()
	m0 = time.monotonic()
	env, setup_error = setup_module(mod, verbose)
	for t in tests:
		name = "%s.%s" % (short, t["name"])
		proxy = getattr(env, "proxy", None)
		if proxy is not None and proxy.proc is not None and not proxy.alive():
			# an earlier test killed the module's proxy: report it, start afresh
			failed += teardown_module(mod, env, short)
			env, setup_error = setup_module(mod, verbose)
			proxy = getattr(env, "proxy", None)
		if setup_error:
			print("FAIL %s: %s" % (name, setup_error), flush=True)
			failed += 1
			continue
		t0 = time.monotonic()
		kind, val = run_bounded(t["fn"], (env,), t["timeout"])
		dt = time.monotonic() - t0
		if kind == "ok":
			passed += 1
			print("PASS %s%s" % (name, " (%.1fs)" % dt if verbose else ""), flush=True)
			continue
		if kind == "error" and isinstance(val, harness.Skip):
			skipped += 1
			print("SKIP %s: %s" % (name, first_line(val)), flush=True)
			continue
		failed += 1
		reason = "timed out after %ds" % t["timeout"] if kind == "timeout" else first_line(val)
		print("FAIL %s: %s%s" % (name, reason, " (%.1fs)" % dt if verbose else ""), flush=True)
		details = []
		if kind == "error":
			rest = str(val).strip().splitlines()[1:]
			if rest:
				details.append("\n".join(rest[:60]))
			details.append(harness.format_exc(val))
		if proxy is not None and "arcproxy stderr" not in str(val):
			details.append(proxy.stderr_tail(15))
		# What each request got, and why (the error label): a failure seen only in CI
		# is explained by these lines or by nothing.
		if proxy is not None and hasattr(proxy, "access_log_lines"):
			lines = proxy.access_log_lines()[-5:]
			if lines:
				details.append("--- arcproxy access log, last %d lines:\n%s" % (len(lines),
											 "\n".join(lines)))
		print(indent("\n".join(d for d in details if d)), flush=True)
	failed += teardown_module(mod, env, short)
	failed += leftovers(before, short)
	return passed, failed, skipped, time.monotonic() - m0


def short_name(modname):
	return modname[len("test_"):] if modname.startswith("test_") else modname


def selected(modname, filters):
	short = short_name(modname)
	return [t for t in harness.TESTS if t["module"] == modname and
		(not filters or any(f in "%s.%s" % (short, t["name"]) for f in filters))]


def load_modules(only=None):
	"""Import the test modules (or only the one named); returns their names in run order."""
	# test_tools first: a missing tool or an unreachable build explains what fails after it.
	for path in sorted(HERE.glob("test_*.py"), key=lambda p: (p.stem != "test_tools", p.stem)):
		if only is None or path.stem == only:
			importlib.import_module(path.stem)
	modules = []
	for t in harness.TESTS:
		if t["module"] not in modules:
			modules.append(t["module"])
	return modules


# --- modules in parallel ----------------------------------------------------
#
# Most tests wait on daemons, so modules run side by side, each whole in a process of its own
# (run.py --module NAME), whose output is printed in one piece when it ends.  A module runs
# beside others only if it says PARALLEL = True: it uses only its own ports (harness.free_port,
# unique across the run's processes), temp dirs and names, and no measure of time or CPU that
# another module's load would spoil.  PARALLEL = "lane" runs beside the others but not beside
# another module of the same lane (the network-namespace modules: "netns").  The others (the
# installed system, the benchmarks, tight bounds on time, and every module that does not say)
# run one at a time once the parallel ones are done.  test_tools starts first and its lines
# come first.

RESULT = "@@result "
TIMES = harness.GIVEN_BIN_DIR.parent / "integration-times.json"	# the last runs' seconds per module


def jobs_wanted(argv):
	for i, a in enumerate(argv):
		if a == "-j" and i + 1 < len(argv):
			return int(argv[i + 1])
		if a.startswith("-j") and a[2:].isdigit():
			return int(a[2:])
	return int(os.environ.get("ARC_JOBS") or 4)


def module_budget(modname):
	"""A bound on the module's whole run: every test's timeout, setup and teardown, with room."""
	tests = [t for t in harness.TESTS if t["module"] == modname]
	return sum(t["timeout"] for t in tests) + (SETUP_TIMEOUT + TEARDOWN_TIMEOUT) * 2 + 60


def read_times():
	"""Seconds per module: the last full run's of this build, else those measured when the
	modules were last balanced (times.json here), else 10; the longest start first."""
	times = {}
	for path in (HERE / "times.json", TIMES):
		try:
			with open(path) as f:
				times.update({k: float(v) for k, v in json.load(f).items()})
		except (OSError, ValueError, AttributeError, TypeError):
			pass
	return times


def write_times(spent):
	times = {}
	try:
		with open(TIMES) as f:
			times = json.load(f)
	except (OSError, ValueError):
		pass
	if not isinstance(times, dict):
		times = {}
	times.update({m: round(dt, 1) for dt, m in spent})
	try:
		tmp = str(TIMES) + ".tmp.%d" % os.getpid()
		with open(tmp, "w") as f:
			json.dump(times, f, indent=1, sort_keys=True)
		os.rename(tmp, TIMES)
	except OSError:
		pass


class Worker:
	"""One module's run in a process of its own; its output goes to a temp file."""

	def __init__(self, modname, argv, env):
		self.modname = modname
		self.out = tempfile.TemporaryFile()
		self.t0 = time.monotonic()
		self.deadline = self.t0 + module_budget(modname)
		self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--module", modname]
					     + argv, stdin=subprocess.DEVNULL, stdout=self.out,
					     stderr=subprocess.STDOUT, env=env, start_new_session=True)

	def finish(self, timed_out=False):
		"""Its output in self.lines; returns (passed, failed, skipped, seconds)."""
		if timed_out:
			try:
				os.killpg(self.proc.pid, signal.SIGKILL)
			except OSError:
				pass
		rc = self.proc.wait()
		self.out.seek(0)
		text = self.out.read().decode("utf-8", "replace")
		self.out.close()
		result = None
		lines = []
		for line in text.splitlines():
			if line.startswith(RESULT):
				result = line[len(RESULT):].split()
			else:
				lines.append(line)
		dt = time.monotonic() - self.t0
		if timed_out:
			lines.append("FAIL %s: the module ran past its bound of %ds and was killed"
				     % (short_name(self.modname), module_budget(self.modname)))
		elif result is None:
			lines.append("FAIL %s: its process ended (status %s) without a result"
				     % (short_name(self.modname), rc))
		self.lines = lines
		if result is None or timed_out:
			p, f, s = (int(x) for x in result[:3]) if result else (0, 0, 0)
			return p, f + 1, s, dt
		return int(result[0]), int(result[1]), int(result[2]), dt


def lane(modname):
	"""PARALLEL = "name": beside the others, but one module of that lane at a time."""
	v = getattr(sys.modules[modname], "PARALLEL", False)
	return v if isinstance(v, str) else None


def make_users():
	"""As root, the users and groups that modules add if missing, added once before they run
	side by side (each module's own code adds them under a lock too)."""
	if os.geteuid() != 0:
		return
	for fn in (fixtures.ensure_users, fx_remote.ensure_notify_user, netns.ensure_users):
		try:
			fn()
		except BaseException:	# noqa: B036: the module that needs it says what fails
			pass


def run_parallel(batches, argv, jobs):
	"""batches: lists of module names, run one batch after the other, the modules of a batch
	at most jobs at a time (and one per lane).  Returns (passed, failed, skipped,
	[(seconds, short)])."""
	env = dict(os.environ, ARC_PORT_DIR=harness.port_dir())
	if harness.BIN_DIR != harness.GIVEN_BIN_DIR:
		env["ARC_BIN"] = str(harness.BIN_DIR)	# the copies: staged once, for every module
		env["ARC_GIVEN_BIN"] = str(harness.GIVEN_BIN_DIR)
	try:
		env["ARC_SHARED_PKI"] = fixtures.shared_pki()
	except BaseException:	# noqa: B036: each module makes its own, and says what fails
		pass
	make_users()
	times = read_times()
	passed = failed = skipped = 0
	spent = []
	results = []
	for batch, width in batches:
		# test_tools first, its lines printed before the others: a missing tool or an
		# unreachable build explains what fails after it.  Then the longest first.
		todo = sorted(batch, key=lambda m: (m != "test_tools", -times.get(short_name(m), 10.0)))
		running = []
		try:
			p, f, s, sp = run_batch(todo, running, width, jobs, argv, env, results)
		finally:
			for w in running:	# interrupted (^C): the modules' processes go too
				try:
					os.killpg(w.proc.pid, signal.SIGKILL)
				except OSError:
					pass
		passed, failed, skipped = passed + p, failed + f, skipped + s
		spent += sp
	# A module that failed runs once more, alone.  If it passes then, the failure was the
	# load of the modules beside it or a race in a test: it is said loudly (FLAKY, with
	# the first run's lines above), and the counts are the second run's.  More than
	# RERUN_MAX failed modules is a broken build: no reruns.
	failed_mods = [r for r in results if r[2] > 0]
	if 0 < len(failed_mods) <= RERUN_MAX:
		for modname, p, f, s in failed_mods:
			print("RERUN %s: %d failed in the run beside the others; once more, alone"
			      % (short_name(modname), f), flush=True)
			p2, f2, s2, _ = run_batch([modname], [], 1, 1, argv, env)
			if f2 == 0:
				print("FLAKY %s: %d failed beside the others, all %d passed alone"
				      % (short_name(modname), f, p2), flush=True)
				passed, failed, skipped = passed - p + p2, failed - f, skipped - s + s2
	return passed, failed, skipped, spent


def run_batch(todo, running, width, jobs, argv, env, results=None):
	"""Run the modules of todo, at most min(width, jobs) at a time and one per lane; running
	holds the workers under way.  Returns (passed, failed, skipped, [(seconds, short)]), and
	appends (module, passed, failed, skipped) to results for each."""
	passed = failed = skipped = 0
	spent = []
	held = [] if "test_tools" in todo else None	# output that waits for test_tools's
	while todo or running:
		busy = {lane(w.modname) for w in running} - {None}
		ready = [m for m in todo if lane(m) not in busy]
		while ready and len(running) < min(width, jobs):
			m = ready.pop(0)
			todo.remove(m)
			running.append(Worker(m, argv, env))
			if lane(m):
				ready = [r for r in ready if lane(r) != lane(m)]
		time.sleep(0.1)
		for w in list(running):
			over = time.monotonic() > w.deadline
			if w.proc.poll() is None and not over:
				continue
			running.remove(w)
			p, f, s, dt = w.finish(timed_out=over and w.proc.poll() is None)
			passed, failed, skipped = passed + p, failed + f, skipped + s
			spent.append((dt, short_name(w.modname)))
			if results is not None:
				results.append((w.modname, p, f, s))
			if held is not None and w.modname != "test_tools":
				held.append(w.lines)
				continue
			for lines in [w.lines] + (held or []):
				if lines:
					print("\n".join(lines), flush=True)
			held = None
	return passed, failed, skipped, spent


def main(argv):
	verbose = "-v" in argv
	list_only = "-l" in argv
	if "--module" in argv:
		# One module, in the process that run_parallel started.
		i = argv.index("--module")
		modname = argv[i + 1]
		args = argv[:i] + argv[i + 2:]
		filters = [a for a in args if not a.startswith("-")]
		become_subreaper()
		load_modules(modname)
		p, f, s, _ = run_module(modname, filters, verbose)
		harness.cleanup_all()
		print("%s%d %d %d" % (RESULT, p, f, s), flush=True)
		return 0
	# A run inside a test (test_tools) is a run of its own, not one of its parent's processes.
	for name in ("ARC_PORT_DIR", "ARC_SHARED_PKI"):
		os.environ.pop(name, None)
	jobs = jobs_wanted(argv)
	argv = [a for i, a in enumerate(argv) if not (a.startswith("-j") or (i > 0 and argv[i - 1] == "-j"))]
	filters = [a for a in argv if not a.startswith("-")]
	modules = [m for m in load_modules() if selected(m, filters)]
	if list_only:
		for m in modules:
			for t in selected(m, filters):
				print("%s.%s" % (short_name(m), t["name"]))
		harness.cleanup_all()
		return 0

	passed = failed = skipped = 0
	start = time.monotonic()
	become_subreaper()
	spent = []
	if jobs <= 1 or len(modules) <= 1:
		for modname in modules:
			p, f, s, dt = run_module(modname, filters, verbose)
			passed, failed, skipped = passed + p, failed + f, skipped + s
			spent.append((dt, short_name(modname)))
	else:
		side = [m for m in modules if getattr(sys.modules[m], "PARALLEL", False)]
		alone = [m for m in modules if m not in side]
		passed, failed, skipped, spent = run_parallel([(side, jobs), (alone, 1)],
							      [a for a in argv if a != "-l"], jobs)
		failed += leftovers(set(), "run")
	harness.cleanup_all()
	if not filters:
		write_times(spent)
	if verbose or skipped:
		print("(%d skipped)" % skipped)
	print("integration time: %.0fs, %s" % (time.monotonic() - start,
		"%d modules at a time" % jobs if jobs > 1 and len(modules) > 1 else "one module at a time"))
	# Where the time went: make test has a budget of 10 minutes in all.
	print("slowest modules: " + ", ".join("%s %.0fs" % (m, dt) for dt, m in sorted(spent)[::-1][:8]))
	print("integration: %d passed, %d failed" % (passed, failed), flush=True)
	return 1 if failed else 0


if __name__ == "__main__":
	rc = main(sys.argv[1:])
	sys.stdout.flush()
	os._exit(rc)	# do not wait for a timed-out test's thread
