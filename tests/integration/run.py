#!/usr/bin/env python3
"""run.py -- run the arcproxy integration scenarios.

usage: python3 tests/integration/run.py [-v] [-l] [FILTER ...]

Runs every @test in tests/integration/test_*.py (test_tools first, then file order, then
definition order),
or only those whose "module.name" contains one of the FILTERs. Prints PASS/FAIL/SKIP
per test and, last, "integration: N passed, N failed"; exits 1 if any failed.
Environment: ARC_BIN (directory holding arcproxy, default build/bin), ARC_KEEP=1 keeps
the temp dirs, ARC_RUN_AS (user to start arcproxy as when root, default nobody), ARC_STAGE=0
(do not copy the programs when ARC_RUN_AS cannot reach them). A process that a module leaves
running after its teardown is killed and counted as a failure.
"""

import ctypes
import importlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

SETUP_TIMEOUT = 30
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


def main(argv):
	verbose = "-v" in argv
	list_only = "-l" in argv
	filters = [a for a in argv if not a.startswith("-")]
	# test_tools first: a missing tool or an unreachable build explains what fails after it.
	for path in sorted(HERE.glob("test_*.py"), key=lambda p: (p.stem != "test_tools", p.stem)):
		importlib.import_module(path.stem)

	passed = failed = skipped = 0
	start = time.monotonic()
	become_subreaper()
	modules, spent = [], []
	for t in harness.TESTS:
		if t["module"] not in modules:
			modules.append(t["module"])
	for modname in modules:
		mod = sys.modules[modname]
		short = modname[len("test_"):] if modname.startswith("test_") else modname
		tests = [t for t in harness.TESTS if t["module"] == modname]
		tests = [t for t in tests
			 if not filters or any(f in "%s.%s" % (short, t["name"]) for f in filters)]
		if not tests:
			continue
		if list_only:
			for t in tests:
				print("%s.%s" % (short, t["name"]))
			continue
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
			print("FAIL %s: %s" % (name, reason), flush=True)
			details = []
			if kind == "error":
				rest = str(val).strip().splitlines()[1:]
				if rest:
					details.append("\n".join(rest[:60]))
				details.append(harness.format_exc(val))
			if proxy is not None and "arcproxy stderr" not in str(val):
				details.append(proxy.stderr_tail(15))
			print(indent("\n".join(d for d in details if d)), flush=True)
		failed += teardown_module(mod, env, short)
		failed += leftovers(before, short)
		spent.append((time.monotonic() - m0, short))
	if list_only:
		harness.cleanup_all()
		return 0
	harness.cleanup_all()
	if verbose or skipped:
		print("(%d skipped, %.0fs)" % (skipped, time.monotonic() - start))
	# Where the time went: make test has a budget of 10 minutes in all.
	print("slowest modules: " + ", ".join("%s %.0fs" % (m, dt) for dt, m in sorted(spent)[::-1][:8]))
	print("integration: %d passed, %d failed" % (passed, failed), flush=True)
	return 1 if failed else 0


if __name__ == "__main__":
	rc = main(sys.argv[1:])
	sys.stdout.flush()
	os._exit(rc)	# do not wait for a timed-out test's thread
