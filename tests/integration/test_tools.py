"""The machine and the harness: the tools are installed, any directory works, nothing is left running.

Run first (run.py), so that a missing tool explains the failures after it.
Expectations:
- Every program that a test module, the harness or bench/ starts (found in their source: the
  first word of each command given to subprocess, Popen or Service, the names given to
  shutil.which, and the commands of shell strings) is listed in tests/tools.txt, unless it
  is one of the project's own programs. So is every program that the shell scripts (tests/run.sh,
  tests/fuzz/run.sh, conf/run.sh, .ci/run, packaging/) and the make recipes run, unless an
  Essential package (coreutils, grep, sed, ...) has it.
- `make deps` installs every package that tests/tools.txt names (make deps-list).
- Each listed program is installed, from the package listed (or one it depends on): a fresh
  machine after `make deps` runs every test and skips none.
- The suite passes from a clone in a directory that nobody (the daemons' user) cannot enter,
  as /root (0700) or a mktemp -d directory: the harness runs copies of the programs from a
  directory anyone can read and says so in one line. Without that (ARC_STAGE=0) the same
  run fails with PermissionError: the check can fail.
- A module whose setup fails after it started a process (test_bench: benchorigin, then an
  arcproxy that exits at once) leaves nothing running; run.py reports and kills whatever a
  module leaves behind.
"""

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
from harness import check, test

# run.py may run this module beside others (it starts first; its lines are printed first).
PARALLEL = True

MANIFEST = harness.REPO / "tests" / "tools.txt"
SOURCES = sorted((harness.REPO / "tests" / "integration").glob("*.py")) + \
	sorted((harness.REPO / "bench").glob("*.py"))
PROCESS_CALLS = {"run", "Popen", "check_output", "check_call", "call", "Service"}
# Programs of this project (build/bin) and interpreter-relative commands.
OWN = {"arcproxy", "himds", "azcmagent", "cloudsim", "arcbench", "benchorigin", "extmgr",
       "guestconfig", "arcnotify"}
DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def manifest():
	"""{program: package} and the set of packages, from tests/tools.txt."""
	progs, pkgs = {}, set()
	for line in MANIFEST.read_text().splitlines():
		f = line.split("#", 1)[0].split()
		if len(f) < 2:
			continue
		pkgs.add(f[1])
		if f[0] != "-":
			progs[f[0]] = f[1]
	return progs, pkgs


def _name_of(expr, consts):
	"""The program a command expression starts, or None."""
	if isinstance(expr, ast.BinOp):
		return _name_of(expr.left, consts)
	if isinstance(expr, (ast.List, ast.Tuple)) and expr.elts:
		return _name_of(expr.elts[0], consts)
	if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
		return os.path.basename(expr.value.split()[0]) if expr.value.strip() else None
	if isinstance(expr, ast.Name) and expr.id in consts:
		return _name_of(consts[expr.id], consts)
	if isinstance(expr, ast.BoolOp):	# shutil.which("squid") or "/usr/sbin/squid"
		for v in expr.values:
			n = _name_of(v, consts)
			if n:
				return n
	if isinstance(expr, ast.Call) and _callee(expr) == "which" and expr.args:
		return _name_of(expr.args[0], consts)
	return None


def _callee(call):
	"""subprocess.run -> "run", Service -> "Service"; a method of anything else -> None."""
	f = call.func
	if isinstance(f, ast.Attribute):
		return f.attr if isinstance(f.value, ast.Name) and f.value.id in ("subprocess", "shutil") \
			else None
	return f.id if isinstance(f, ast.Name) else None


def _passes_args(fn):
	"""Whether fn(*args) runs its args as a command: subprocess.run(list(args)) or [*args]."""
	if fn.args.vararg is None:
		return False
	va = fn.args.vararg.arg
	for expr in ast.walk(fn):
		if isinstance(expr, ast.Call) and _callee(expr) in PROCESS_CALLS and expr.args:
			a = expr.args[0]
			if isinstance(a, ast.Call) and _callee(a) == "list" and a.args and \
			   isinstance(a.args[0], ast.Name) and a.args[0].id == va:
				return True
			if isinstance(a, ast.List) and a.elts and isinstance(a.elts[0], ast.Starred):
				return True
	return False


def _text_of(expr):
	"""A string constant, or the format of "..." % (...), with %s made a placeholder word."""
	if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mod):
		expr = expr.left
	if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
		return expr.value.replace("%s", "x").replace("%d", "0")
	return None


def _shell_words(text):
	"""The commands of a shell string: the first word of each pipeline part."""
	out = []
	for part in re.split(r"\|\||&&|[|;]|<\(|\$\(", text):
		try:
			words = shlex.split(part)
		except ValueError:
			words = part.split()
		words = [w for w in words if not re.match(r"^\w+=", w)]
		if words and words[0] in ("exec", "command", "sudo"):
			words = words[1:]
		if words and re.match(r"^[\w./+-]+$", words[0]):
			out.append(os.path.basename(words[0]))
	return out


def called_programs():
	"""{program: ["file:line", ...]} for every program the sources start."""
	found = {}

	def add(name, path, expr):
		if name and re.match(r"^[A-Za-z][\w.+-]*$", name):
			found.setdefault(name, []).append("%s:%d" % (path.name, expr.lineno))

	for path in SOURCES:
		tree = ast.parse(path.read_text(), str(path))
		# Names bound to a command (cmd = ["nghttp", ...], SQUID = which(...) or ...),
		# and wrappers of subprocess.run (run = functools.partial(subprocess.run, ...)).
		consts, runners = {}, set(PROCESS_CALLS)
		runners |= {f.name for f in tree.body if isinstance(f, ast.FunctionDef) and _passes_args(f)}
		for expr in ast.walk(tree):
			if isinstance(expr, ast.Assign) and len(expr.targets) == 1 and \
			   isinstance(expr.targets[0], ast.Name):
				v = expr.value
				if isinstance(v, ast.Call) and _callee(v) == "partial" and v.args and \
				   isinstance(v.args[0], ast.Attribute) and v.args[0].attr in PROCESS_CALLS:
					runners.add(expr.targets[0].id)
				elif isinstance(v, (ast.List, ast.BoolOp, ast.Call, ast.BinOp)):
					consts[expr.targets[0].id] = v
		for expr in ast.walk(tree):
			if not isinstance(expr, ast.Call):
				continue
			name = _callee(expr)
			if name == "which" and expr.args:
				add(_name_of(expr.args[0], consts), path, expr)
				continue
			if name not in runners or not expr.args:
				continue
			arg = expr.args[1] if name == "Service" and len(expr.args) > 1 else expr.args[0]
			shell = any(k.arg == "shell" for k in expr.keywords)
			text = _text_of(arg)
			if shell and text is not None:
				for w in _shell_words(text):
					add(w, path, expr)
			else:
				add(_name_of(arg, consts), path, expr)
				# ["unshare", "-m", "sh", "-c", "mount ..."]: the shell's commands too
				if isinstance(arg, ast.List):
					elts = [_text_of(e) or "" for e in arg.elts]
					for i, e in enumerate(elts[:-1]):
						if e == "-c":
							for w in _shell_words(elts[i + 1]):
								add(w, path, expr)
					if elts[:1] == ["unshare"] and len(elts) > 2:
						add(next((e for e in elts[1:] if not e.startswith("-")), None),
						    path, expr)
	return {k: v for k, v in found.items() if k not in OWN and k != "x"}


# --- shell scripts and make recipes ------------------------------------------------

SHELL_SOURCES = ["tests/run.sh", "tests/fuzz/run.sh", "conf/run.sh", ".ci/run", "packaging/deb.sh",
		 "packaging/debian/postinst", "packaging/debian/prerm", "packaging/debian/postrm"]
MAKEFILES = ["Makefile"] + sorted(str(p.relative_to(harness.REPO)) for p in harness.REPO.glob("*/build.mk")) + \
	sorted(str(p.relative_to(harness.REPO)) for p in harness.REPO.glob("*/*/build.mk"))
SHELL_WORDS = set("""if then else elif fi for do done while until case esac in function return exit set
unset export local readonly shift trap wait eval exec cd pwd echo printf read test [ [[ ]] ] true
false : . source break continue command type hash umask ulimit alias getopts let declare typeset
kill time { } ! jobs fg bg disown""".split())


def shell_commands(text, recipes_only=False):
	"""[(program, line)] of the commands a shell script (or a Makefile's recipes) runs: the
	first word of each simple command, outside here-documents, strings and arithmetic."""
	funcs = set(re.findall(r"^\s*([A-Za-z_][\w-]*)\s*\(\)", text, re.M))
	# Comment lines go first (an apostrophe in one would open a string), then strings
	# in single quotes, which may span lines (awk programs); line numbers are kept.
	text = re.sub(r"(?m)^[ \t]*#.*$", "", text)
	lines, heredoc = text.split("\n"), None
	for i, line in enumerate(lines):	# here-documents are text, not commands
		if heredoc:
			lines[i], heredoc = "", None if line.strip() == heredoc else heredoc
			continue
		m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
		heredoc = m.group(1) if m else None
	text = "\n".join(lines)
	text = re.sub(r"'[^']*'", lambda m: "''" + "\n" * m.group(0).count("\n"), text)
	if recipes_only:	# make's $(dir $@) is no command; the shell's $$(cmd) is,
		# except in a define, which eval expands once more ($$(dir $$@)).
		text = re.sub(r"(?ms)^define .*?^endef", lambda m: m.group(0).replace("$$(", "$("), text)
		text = re.sub(r"\$\(", "_m_", text.replace("$$(", "\0")).replace("\0", "$(")
	out, joined = [], []
	for n, line in enumerate(text.splitlines(), 1):
		if joined and joined[-1][1].endswith("\\"):
			joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + line)
		else:
			joined.append((n, line))
	for n, line in joined:
		if recipes_only:
			if not line.startswith("\t"):
				continue
			line = line.lstrip("\t@-")
		code = re.sub(r"(^|\s)#.*$", "", line)
		code = re.sub(r"\$\(\([^)]*\)\)", "0", code)
		code = re.sub(r'"[^"$`]*"', '""', code)
		for part in re.split(r"\|\||&&|[|;&(`]|\$\(|\bthen\b|\bdo\b|\belse\b", code):
			w = part.split()
			while w and (re.match(r"^\w+=", w[0]) or w[0] in ("!", "exec", "command", "env", "nohup")):
				w = w[1:]
			if w and w[0] not in SHELL_WORDS and w[0] not in funcs and \
			   re.match(r"^[a-z][\w.+-]*$", w[0]) and not w[0].endswith((".service", ".path")):
				out.append((w[0], n))
	return out


def scripted_programs():
	"""{program: ["file:line", ...]} for the shell scripts and the make recipes."""
	found = {}
	for rel, recipes in [(f, False) for f in SHELL_SOURCES] + [(f, True) for f in MAKEFILES]:
		path = harness.REPO / rel
		if not path.exists():
			continue
		for prog, n in shell_commands(path.read_text(), recipes):
			found.setdefault(prog, []).append("%s:%d" % (rel, n))
	return found


def essential(pkgs):
	"""The packages of pkgs that are Essential (always installed: coreutils, grep, sed...)."""
	r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Essential}\n", *pkgs],
			   capture_output=True, text=True, timeout=60)
	return {ln.split()[0] for ln in r.stdout.splitlines() if ln.endswith(" yes")}


def _candidates(prog):
	"""Where Debian puts prog (the first of DIRS that has it), with the names dpkg knows it by
	(/usr/bin/x may be registered as /bin/x, a symlink by its target): (path, [names])."""
	for d in DIRS:
		p = os.path.join(d, prog)
		if os.path.exists(p):
			real = os.path.realpath(p)
			return p, list(dict.fromkeys((p, real, p.replace("/usr/", "/", 1),
						       real.replace("/usr/", "/", 1))))
	return None, []


def owners(paths):
	"""{path: package} for the paths dpkg knows, in one dpkg-query."""
	r = subprocess.run(["dpkg-query", "-S", *paths], capture_output=True, text=True, timeout=60)
	out = {}
	for line in r.stdout.splitlines():
		if line.startswith("diversion by") or ": " not in line:
			continue
		pkgs, _, path = line.partition(": ")
		out.setdefault(path.strip(), pkgs.split(",")[0].strip())
	return out


def depends(pkgs):
	"""{package: set of packages it depends on}, in one dpkg-query."""
	r = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Depends},${Pre-Depends}\n", *pkgs],
			   capture_output=True, text=True, timeout=60)
	out = {}
	for line in r.stdout.splitlines():
		name, _, deps = line.partition("\t")
		out[name] = set(re.findall(r"(?:^|[,|]\s*)([a-z0-9][a-z0-9.+-]*)", deps))
	return out


@test
def programs_called_are_listed(env):
	"""The scan finds what the suites call (nghttp, nghttpx, squid, ...), and each is listed."""
	progs, _ = manifest()
	called = called_programs()
	# The scan itself: it must see the programs this very issue was about.
	for must in ("nghttp", "nghttpx", "squid", "openssl", "curl", "traffic_server", "tinyproxy"):
		check(must in called, "the source scan did not find %s: the scan is broken" % must)
	missing = ["%s (%s)" % (p, ", ".join(sorted(set(w))[:3])) for p, w in sorted(called.items())
		   if p not in progs]
	check(not missing, "called but not in tests/tools.txt (so make deps does not install "
	      "their packages): %s" % "; ".join(missing))


@test
def make_deps_installs_every_listed_package(env):
	_, pkgs = manifest()
	r = subprocess.run(["make", "-s", "-C", str(harness.REPO), "deps-list"], capture_output=True,
			   text=True, timeout=60)
	check(r.returncode == 0, "make deps-list: exit %d: %s" % (r.returncode, r.stderr.strip()))
	have = set(r.stdout.split())
	check(pkgs <= have, "make deps does not install: %s" % " ".join(sorted(pkgs - have)))


@test(timeout=60)
def scripts_and_recipes_call_listed_or_essential_programs(env):
	"""The shell scripts and make recipes: each program they run is listed, or comes from an
	Essential package (coreutils, grep, sed, ...) that every Debian machine has."""
	progs, _ = manifest()
	called = {p: w for p, w in scripted_programs().items() if p not in progs and p not in OWN}
	for must in ("dpkg-deb", "systemd-sysusers", "make"):
		check(must in scripted_programs(), "the script scan did not find %s: the scan is broken" % must)
	found = {p: _candidates(p) for p in called}
	known = owners([n for _, names in found.values() for n in names]) if found else {}
	owner = {p: next((known[n] for n in names if n in known), None) for p, (_, names) in found.items()}
	ess = essential(sorted({o for o in owner.values() if o}))
	bad = ["%s (%s; %s)" % (p, ", ".join(w[:2]), "from %s" % owner[p] if owner[p] else "not installed")
	       for p, w in sorted(called.items()) if owner[p] not in ess]
	check(not bad, "run by a script or recipe, not in tests/tools.txt and not Essential: %s" % "; ".join(bad))


@test(timeout=90)
def every_listed_program_is_installed(env):
	progs, pkgs = manifest()
	found = {prog: _candidates(prog) for prog in progs}
	known = owners([n for _, names in found.values() for n in names])
	deps = depends(sorted(pkgs))
	# Two levels: gcc depends on gcc-12, which has the compiler that cc names.
	second = depends(sorted(set().union(*deps.values()) - set(deps)))
	deps = {p: d.union(*(second.get(x, set()) for x in d)) for p, d in deps.items()}
	problems = []
	for prog, pkg in sorted(progs.items()):
		path, names = found[prog]
		owner = next((known[n] for n in names if n in known), "?")
		if path is None:
			problems.append("%s is not installed (package %s; run make deps as root)" % (prog, pkg))
		elif owner != pkg and owner not in deps.get(pkg, ()):
			problems.append("%s comes from %s, not from %s as tests/tools.txt says" % (path, owner, pkg))
	r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *sorted(pkgs)],
			   capture_output=True, text=True, timeout=60)
	ok = {ln.split()[0] for ln in r.stdout.splitlines() if "install ok installed" in ln}
	for pkg in sorted(pkgs - ok - {progs[p] for p in progs if found[p][0] is None}):
		problems.append("package %s is not installed (run make deps as root)" % pkg)
	check(not problems, "; ".join(problems))


def run_suite(root, bin_dir, filters, timeout, **env):
	"""tests/integration/run.py of the tree at root: (exit status, output)."""
	e = dict(os.environ, ARC_BIN=str(bin_dir), **env)
	e.pop("ARC_KEEP", None)
	r = subprocess.run([sys.executable, str(Path(root) / "tests" / "integration" / "run.py"),
			    *filters], cwd=str(root), env=e, capture_output=True, text=True,
			   timeout=timeout)
	return r.returncode, r.stdout + r.stderr


@test(timeout=150)
def suite_runs_from_a_closed_directory(env):
	if os.geteuid() != 0:
		raise harness.Skip("needs root: only root runs the daemons as another user")
	closed = Path(tempfile.mkdtemp(prefix="arc-closed-"))	# 0700, as /root is
	try:
		check(os.stat(closed).st_mode & 0o777 == 0o700, "mkdtemp made %o" % os.stat(closed).st_mode)
		shutil.copytree(harness.REPO / "tests", closed / "tests",
				ignore=shutil.ignore_patterns("__pycache__"))
		shutil.copytree(harness.BIN_DIR, closed / "build" / "bin")
		filters = ["routes.", "cloudsim.pki_files", "cloudsim.curl_tunnel_bytes"]
		rc, out = run_suite(closed, closed / "build" / "bin", filters, 60)
		lines = [ln for ln in out.splitlines() if ln.startswith("harness: ")]
		check(rc == 0 and re.search(r"integration: [1-9]\d* passed, 0 failed", out),
		      "from %s: exit %d:\n%s" % (closed, rc, out[-3000:]))
		check(len(lines) == 1 and "cannot enter" in lines[0] and str(closed) in lines[0],
		      "no one line that says the programs were copied: %r" % lines)
		# The same run without the copies: what a clone in /root did before.
		rc, out = run_suite(closed, closed / "build" / "bin", filters, 60, ARC_STAGE="0")
		check(rc != 0 and "PermissionError" in out,
		      "without staging the run from %s did not fail (exit %d):\n%s" % (closed, rc, out[-2000:]))
	finally:
		shutil.rmtree(closed, ignore_errors=True)


def running_from(d):
	"""Pids of processes whose program lies under d."""
	out = []
	for pid in os.listdir("/proc"):
		if pid.isdigit():
			try:
				if os.readlink("/proc/%s/exe" % pid).startswith(str(d) + "/"):
					out.append(int(pid))
			except OSError:
				pass
	return out


@test(timeout=90)
def failed_setup_leaves_nothing_running(env):
	d = Path(tempfile.mkdtemp(prefix="arc-failing-", dir=harness.tmp_root()))
	os.chmod(d, 0o755)
	try:
		for prog in ("benchorigin", "arcbench"):
			shutil.copy2(harness.BIN_DIR / prog, d / prog)
		# An arcproxy that exits at once: test_bench's setup fails after benchorigin started.
		(d / "arcproxy").write_text("#!/bin/sh\necho 'arcproxy: broken on purpose' >&2\nexit 1\n")
		os.chmod(d / "arcproxy", 0o755)
		rc, out = run_suite(harness.REPO, d, ["bench.http_keepalive_verified"], 60)
		check(rc != 0 and "FAIL bench.http_keepalive_verified: setup:" in out,
		      "the setup did not fail as arranged (exit %d):\n%s" % (rc, out[-2000:]))
		left = running_from(d)
		for pid in left:
			os.kill(pid, 9)
			try:
				os.waitpid(pid, 0)	# an orphan reparented to run.py, the subreaper
			except ChildProcessError:
				pass
		check(not left, "still running after the suite ended: pids %s from %s" % (left, d))
		check("left running" not in out, "the module left a process for run.py to kill:\n%s"
		      % "\n".join(ln for ln in out.splitlines() if "left running" in ln))
	finally:
		shutil.rmtree(d, ignore_errors=True)
