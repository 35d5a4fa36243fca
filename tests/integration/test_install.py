"""make install, the systemd units and the .deb: installed as an operator would, run as the units say.

Expectations:
- Every unit (arcproxyd, himdsd, extd, gcad, and the path units) passes `systemd-analyze verify`;
  extd and gcad, whose programs are not built yet, are verified with a stand-in program.
- The units run arcproxy and himds as their users, hardened; `systemd-analyze security` rates
  arcproxyd and himdsd OK or better, and README's table gives every unit's score as measured.
- tmpfiles.d makes the state and run directories of the security layout (BRIEF/ARCHITECTURE),
  sysusers.d the users arcproxy and himds in group arc.
- `make install DESTDIR=... PREFIX=/usr` installs the programs, the units of the programs that
  are built, sysusers.d, tmpfiles.d and the default configs (arcproxy, himds, extmgr, guestconfig,
  notify: root's 0644, conffiles of the .deb), keeping a config that exists;
  `make uninstall` removes all of it but the changed config.
- `make deb` builds arc-appliance_<version>_<arch>.deb; lintian reports only the tags that
  README lists with their reason.
- As root, in the plain build's run (make test; the sanitizer run skips it, as make deb refuses
  a sanitizer build): dpkg -i creates the users and directories and starts nothing, and can
  be run again; the daemons,
  started exactly as their units say (ExecStart, User, Group, SupplementaryGroups, capabilities,
  NoNewPrivileges, UMask, LimitNOFILE: read from the installed units) once their path units'
  conditions hold, carry the installed azcmagent's connect to cloudsim and a token through
  himds's challenge; dpkg -r stops them and removes the programs, keeping /etc/arc and the
  state; installed again over what that left, the layout is right again and the edited config
  kept; dpkg -P removes those too. The machine is left with the files it had before (the
  system users stay, as Debian leaves them) and with nothing running. A /run/arc left over
  from before (not in use: no live daemon in its pid files) is set aside while the test runs
  and put back after it.
"""

import http.client
import json
import os
import pwd
import grp
import re
import resource
import shlex
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import harness
import test_cloudsim as tcs
from harness import check, free_port, test

UNITS = harness.REPO / "packaging" / "systemd"
PACKAGING = harness.REPO / "packaging"
SANITIZE = os.environ.get("SANITIZE") == "1" or "/san/" in str(harness.BIN_DIR) + "/"
# The build that make deb packages: the given one, not the harness's staged copies.
BUILD = harness.GIVEN_BIN_DIR.resolve().parent
if BUILD.is_relative_to(harness.REPO.resolve()):
	BUILD = BUILD.relative_to(harness.REPO.resolve())	# as make test names it: build
PKG = "arc-appliance"
TOKEN = "install-it-onboarding-token"
NAME = "installed-machine"
# The security layout (BRIEF.md, issue 15): path -> (owner, group, mode).
LAYOUT = {
	"/var/lib/arc": ("root", "root", 0o755),
	"/var/lib/arc/himds": ("himds", "arc", 0o750),
	"/var/lib/arc/arcproxy": ("arcproxy", "arcproxy", 0o750),
	"/run/arc": ("root", "root", 0o755),
	"/run/arc/tokens": ("himds", "himds", 0o750),
	"/run/arc/notify": ("arcnotify", "arcnotify", 0o755),
}


def setup():
	return None


def teardown(env):
	return []


# --- units --------------------------------------------------------------------

def parse_unit(text):
	"""{section: {key: [values]}} of a unit file."""
	out, sec = {}, None
	for line in text.splitlines():
		line = line.strip()
		if not line or line[0] in "#;":
			continue
		if line.startswith("["):
			sec = out.setdefault(line.strip("[]"), {})
			continue
		k, _, v = line.partition("=")
		sec.setdefault(k.strip(), []).append(v.strip())
	return out


def one(unit, sec, key, default=None):
	v = unit.get(sec, {}).get(key)
	return v[-1] if v else default


def words(unit, sec, key):
	"""A list setting's words; an empty assignment resets it, as systemd does."""
	out = []
	for v in unit.get(sec, {}).get(key, []):
		out = [] if v == "" else out + v.split()
	return out


def render_units(dest, sbindir, standin=None):
	"""The units with @SBINDIR@ filled in, into dest; extd's and gcad's programs, when not
	built, replaced by standin."""
	for f in sorted(UNITS.iterdir()):
		text = f.read_text().replace("@SBINDIR@", str(sbindir))
		if standin:
			for prog in ("extmgr", "guestconfig"):
				if not (Path(sbindir) / prog).exists():
					text = text.replace("%s/%s " % (sbindir, prog), "%s " % standin)
		(Path(dest) / f.name).write_text(text)
	return sorted(Path(dest).iterdir())


def security_scores(paths):
	"""{unit: (exposure, level)} from systemd-analyze security --offline."""
	out = {}
	for p in paths:
		if p.suffix != ".service":
			continue
		r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(p)],
				   capture_output=True, text=True, timeout=60, cwd=str(p.parent))
		m = re.search(r"Overall exposure level for (\S+): ([\d.]+) (\w+)", r.stdout)
		check(m, "systemd-analyze security %s: %s%s" % (p.name, r.stdout[-300:], r.stderr[-300:]))
		out[m.group(1)] = (float(m.group(2)), m.group(3))
	return out


@test(timeout=120)
def units_verify_and_score(env):
	d = tempfile.mkdtemp(prefix="units-", dir=harness.tmp_root())
	paths = render_units(d, harness.BIN_DIR, standin="/usr/bin/true")
	r = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, paths)],
			   capture_output=True, text=True, timeout=60, cwd=d)
	check(r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(),
	      "systemd-analyze verify: exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
	units = {p.name: parse_unit(p.read_text()) for p in paths}
	for name, user in (("arcproxyd.service", "arcproxy"), ("himdsd.service", "himds")):
		u = units[name]
		check(one(u, "Service", "User") == user and words(u, "Service", "SupplementaryGroups") == ["arc"],
		      "%s: User=%s, SupplementaryGroups=%s" % (name, one(u, "Service", "User"),
							     words(u, "Service", "SupplementaryGroups")))
		for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
			     ("ProtectHome", "yes"), ("ExecReload", "kill -HUP $MAINPID")):
			check(one(u, "Service", k) == v, "%s: %s=%s, want %s" % (name, k, one(u, "Service", k), v))
		check(words(u, "Service", "RestrictAddressFamilies") and
		      words(u, "Service", "ReadWritePaths"), "%s: no RestrictAddressFamilies or ReadWritePaths" % name)
	for name in ("arcproxyd.service", "himdsd.service"):
		u = units[name]["Service"]
		check("CapabilityBoundingSet" in u and words(units[name], "Service", "CapabilityBoundingSet") == [] and
		      words(units[name], "Service", "AmbientCapabilities") == [],
		      "%s keeps capabilities: %r" % (name, u.get("CapabilityBoundingSet")))
	check(one(units["arcproxyd.service"], "Service", "LimitNOFILE"), "arcproxyd: no LimitNOFILE")
	for name in ("himdsd.service", "extd.service", "gcad.service"):
		check("arcproxyd.service" in words(units[name], "Unit", "After"), "%s is not after arcproxyd" % name)
	scores = security_scores(paths)
	for name in ("arcproxyd.service", "himdsd.service"):
		check(scores[name][1] in ("SAFE", "OK"), "%s: exposure %.1f %s" % ((name,) + scores[name]))
	readme = (harness.REPO / "README.md").read_text()
	for name, (score, level) in scores.items():
		check(re.search(r"\|\s*`?%s`?\s*\|[^|\n]*\|\s*%.1f %s\s*\|" % (re.escape(name), score, level), readme),
		      "README's table does not give %s as %.1f %s" % (name, score, level))


@test
def tmpfiles_and_sysusers_match_the_layout(env):
	lines = [ln.split() for ln in (PACKAGING / "tmpfiles.conf").read_text().splitlines()
		 if ln.strip() and not ln.startswith("#")]
	dirs = {f[1]: (f[3], f[4], int(f[2], 8)) for f in lines if f[0] == "d"}
	check(dirs == LAYOUT, "tmpfiles.d directories %r, layout %r" % (dirs, LAYOUT))
	pids = {f[1]: (f[3], f[4]) for f in lines if f[0] == "f"}
	check(pids == {"/run/arc/arcproxy.pid": ("arcproxy", "arcproxy"), "/run/arc/himds.pid": ("himds", "himds"),
		       "/run/arc/arcnotify.pid": ("arcnotify", "arcnotify")},
	      "pid files %r" % pids)
	users = [ln.split()[:3] for ln in (PACKAGING / "sysusers.conf").read_text().splitlines()
		 if ln.strip() and not ln.startswith("#")]
	check(["u", "arcproxy", "-"] in users and ["u", "himds", "-"] in users and ["g", "arc", "-"] in users and
	      ["m", "arcproxy", "arc"] in users and ["m", "himds", "arc"] in users, "sysusers.d: %r" % users)


def make(*args, timeout=300):
	r = subprocess.run(["make", "-s", "-C", str(harness.REPO), "BUILD=%s" % BUILD,
			    "SANITIZE=%d" % SANITIZE, *args],
			   capture_output=True, text=True, timeout=timeout)
	check(r.returncode == 0, "make %s: exit %d\n%s%s" % (" ".join(args), r.returncode,
							  r.stdout[-2000:], r.stderr[-2000:]))
	return r


def tree(root):
	return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if not p.is_dir())


@test(timeout=300)
def make_install_and_uninstall(env):
	dest = tempfile.mkdtemp(prefix="destdir-", dir=harness.tmp_root())
	os.makedirs(dest + "/etc/arc")
	with open(dest + "/etc/arc/himds.conf", "w") as f:
		f.write("# the operator's own\n")
	make("install", "DESTDIR=" + dest, "PREFIX=/usr")
	have = tree(dest)
	want = ["etc/arc/arcproxy.conf", "etc/arc/extmgr.conf", "etc/arc/guestconfig.conf", "etc/arc/himds.conf",
		"etc/arc/notify.conf", "usr/bin/azcmagent",
		"usr/lib/systemd/system/arcproxyd.path", "usr/lib/systemd/system/arcproxyd.service",
		"usr/lib/systemd/system/himdsd.path", "usr/lib/systemd/system/himdsd.service",
		"usr/lib/sysusers.d/arc-appliance.conf", "usr/lib/tmpfiles.d/arc-appliance.conf",
		"usr/sbin/arcproxy", "usr/sbin/himds"]
	for prog, unit in (("extmgr", "extd"), ("guestconfig", "gcad")):
		if (harness.BIN_DIR / prog).exists():
			want += ["usr/sbin/" + prog, "usr/lib/systemd/system/%s.service" % unit]
			if (UNITS / (unit + ".path")).exists():
				want.append("usr/lib/systemd/system/%s.path" % unit)
	want += ["usr/sbin/arcnotify", "usr/lib/systemd/system/arcnotifyd.service",
		 "usr/lib/systemd/system/arcnotifyd.path"]
	check(have == sorted(want), "make install put %r, want %r" % (have, sorted(want)))
	check(open(dest + "/etc/arc/himds.conf").read() == "# the operator's own\n",
	      "make install overwrote an existing config")
	unit = (Path(dest) / "usr/lib/systemd/system/arcproxyd.service").read_text()
	check("ExecStart=/usr/sbin/arcproxy " in unit, "ExecStart not under PREFIX: %s" %
	      [ln for ln in unit.splitlines() if ln.startswith("ExecStart")])
	for f in ("usr/sbin/arcproxy", "usr/bin/azcmagent"):
		check(stat.S_IMODE(os.stat(os.path.join(dest, f)).st_mode) == 0o755, "%s mode" % f)
	# Every default config as shipped, root's 0644 like the others; arcnotify accepts its own.
	for name in ("arcproxy", "extmgr", "guestconfig", "notify"):
		f = Path(dest) / "etc/arc" / (name + ".conf")
		st = f.stat()
		check(f.read_bytes() == (harness.REPO / "conf" / f.name).read_bytes() and
		      stat.S_IMODE(st.st_mode) == 0o644 and (os.geteuid() != 0 or (st.st_uid, st.st_gid) == (0, 0)),
		      "%s: %o %d:%d, or not conf/%s" % (f, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, f.name))
	r = subprocess.run([str(harness.BIN_DIR / "arcnotify"), "-n", "--config-dir", dest + "/etc/arc",
			    "--state-dir", dest, "--run-dir", dest], capture_output=True, text=True, timeout=30)
	check(r.returncode == 0, "arcnotify -n on the installed notify.conf: %d %s" % (r.returncode, r.stderr))
	# The operator edits notify.conf: a second install keeps it, uninstall too.
	with open(dest + "/etc/arc/notify.conf", "a") as f:
		f.write("max_sessions = 4;\n")
	edited = Path(dest + "/etc/arc/notify.conf").read_text()
	make("install", "DESTDIR=" + dest, "PREFIX=/usr")
	check(Path(dest + "/etc/arc/notify.conf").read_text() == edited, "make install overwrote an edited notify.conf")
	make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
	check(tree(dest) == ["etc/arc/himds.conf", "etc/arc/notify.conf"], "make uninstall left %r" % tree(dest))


@test(timeout=300)
def deb_builds_and_lintian_reports_only_listed_tags(env):
	if SANITIZE:
		raise harness.Skip("a sanitizer build is not packaged: make test (the plain run) tests the .deb")
	deb = build_deb()
	info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Depends"], capture_output=True, text=True)
	check("libevent-core" in info.stdout and "libc6" in info.stdout, "Depends: %s" % info.stdout)
	conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True)
	check(conffiles.returncode == 0, "no control archive")
	r = subprocess.run(["lintian", "--pedantic", "-I", "-E", "--no-tag-display-limit", str(deb)],
			   capture_output=True, text=True, timeout=240)
	tags = sorted({m.group(1) for m in re.finditer(r"^[EWIPX]: \S+: (\S+)", r.stdout, re.M)})
	readme = (harness.REPO / "README.md").read_text()
	section = readme.split("lintian", 1)[1] if "lintian" in readme else ""
	unlisted = [t for t in tags if "`%s`" % t not in section]
	check(not unlisted, "lintian tags that README does not list: %s\n%s" % (unlisted, r.stdout))


_deb = None


def build_deb():
	global _deb
	if _deb is None:
		out = make("deb").stdout.strip().splitlines()[-1]
		_deb = harness.REPO / out
		check(re.search(r"/arc-appliance_[\w.~+-]+_\w+\.deb$", str(_deb)) and _deb.exists(),
		      "make deb made %s" % out)
	return _deb


# --- the package on this machine -----------------------------------------------

WATCHED = ["/etc", "/var/lib", "/usr/sbin", "/usr/bin", "/lib/systemd/system", "/usr/lib/systemd/system",
	   "/usr/lib/sysusers.d", "/usr/lib/tmpfiles.d", "/usr/share/doc"]
# Files that change as a matter of course, or as user databases (the users stay).
NOISE = re.compile(r"^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$|^/etc/ld\.so\.cache$|"
		   r"^/var/lib/(dpkg|apt|ucf|systemd/(timers|catalog|coredump))/|^/var/lib/(lintian)|"
		   # the network namespaces of firewall tests that other runs on the machine start and end
		   r"^/etc/netns/arc-(cloud|machine)-\d+-")


def snapshot():
	out = set()
	for top in WATCHED:
		for dirpath, dirnames, filenames in os.walk(top):
			for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
				p = os.path.join(dirpath, n)
				if not NOISE.search(p):
					out.add(p)
	return out


def installed():
	r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG], capture_output=True, text=True)
	return r.stdout.strip() if r.returncode == 0 else ""


def running_installed():
	"""{pid: exe} of processes running a program the package installs."""
	out = {}
	for pid in os.listdir("/proc"):
		if pid.isdigit():
			try:
				exe = os.readlink("/proc/%s/exe" % pid)
			except OSError:
				continue
			if exe.split(" ")[0] in ("/usr/sbin/arcproxy", "/usr/sbin/himds", "/usr/bin/azcmagent"):
				out[int(pid)] = exe
	return out


class UnitProcess:
	"""A daemon started the way systemd would start its unit, from the installed unit file."""

	def __init__(self, unit_path, log_dir):
		self.name = os.path.basename(unit_path)
		self.unit = parse_unit(Path(unit_path).read_text())
		self.argv, self.env, self.umask, self.nofile = self.command()
		self.log_path = os.path.join(log_dir, self.name + ".log")
		self.log = open(self.log_path, "ab")
		self.proc = subprocess.Popen(self.argv, env=self.env, cwd="/", stdin=subprocess.DEVNULL,
					     stdout=self.log, stderr=self.log, preexec_fn=self._limits)
		# Reap at once: a zombie would look alive to the package's prerm.
		threading.Thread(target=self.proc.wait, daemon=True).start()

	def command(self):
		s = "Service"
		argv = shlex.split(one(self.unit, s, "ExecStart"))
		argv[0] = argv[0].lstrip("-@:+!")
		pw = pwd.getpwnam(one(self.unit, s, "User", "root"))
		gid = grp.getgrnam(one(self.unit, s, "Group")).gr_gid if one(self.unit, s, "Group") else pw.pw_gid
		groups = [grp.getgrnam(g).gr_gid for g in words(self.unit, s, "SupplementaryGroups")]
		caps = [c.lower().replace("cap_", "", 1) for c in words(self.unit, s, "AmbientCapabilities")]
		bound = [c.lower().replace("cap_", "", 1) for c in words(self.unit, s, "CapabilityBoundingSet")]
		cmd = ["setpriv", "--reuid", str(pw.pw_uid), "--regid", str(gid)]
		cmd += ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
		if one(self.unit, s, "NoNewPrivileges") == "yes":
			cmd.append("--no-new-privs")
		if "CapabilityBoundingSet" in self.unit[s]:
			cmd += ["--bounding-set", ",".join(["-all"] + ["+" + c for c in bound])]
		cmd += ["--inh-caps", ",".join(["-all"] + ["+" + c for c in caps])]
		if caps:
			cmd += ["--ambient-caps", ",".join("+" + c for c in caps)]
		env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
		       "USER": pw.pw_name, "LOGNAME": pw.pw_name, "HOME": pw.pw_dir, "SHELL": pw.pw_shell}
		for e in self.unit[s].get("Environment", []):
			for kv in shlex.split(e):
				k, _, v = kv.partition("=")
				env[k] = v
		umask = int(one(self.unit, s, "UMask", "0022"), 8)
		nofile = one(self.unit, s, "LimitNOFILE")
		return cmd + ["--", *argv], env, umask, int(nofile) if nofile else None

	def _limits(self):
		os.umask(self.umask)
		if self.nofile:
			resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

	def alive(self):
		return self.proc.poll() is None

	def reload(self):
		argv = one(self.unit, "Service", "ExecReload").replace("$MAINPID", str(self.proc.pid))
		subprocess.run(shlex.split(argv), timeout=10)

	def tail(self, n=15):
		try:
			with open(self.log_path, "rb") as f:
				return "--- %s:\n%s" % (self.name, "\n".join(
					f.read().decode("utf-8", "replace").splitlines()[-n:]))
		except OSError:
			return ""

	def stop(self):
		harness.terminate(self.proc)
		self.log.close()


def path_condition(unit_path):
	"""The path a .path unit waits for (PathExists=)."""
	return one(parse_unit(Path(unit_path).read_text()), "Path", "PathExists")


def dpkg(*args):
	"""dpkg, waiting (at most 90 s) while apt or another dpkg holds its lock."""
	deadline = time.monotonic() + 90
	for _ in range(100):
		r = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=240,
				   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
		if r.returncode != 2 or "lock" not in r.stderr or time.monotonic() > deadline:
			break
		time.sleep(1)
	check(r.returncode == 0, "dpkg %s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
	return r


def azcmagent(*args, timeout=60):
	return subprocess.run(["/usr/bin/azcmagent", *args], capture_output=True, text=True, timeout=timeout,
			      env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})


def set_conf(path, replace):
	"""Edit an installed config as an operator would: each key's line replaced."""
	text = open(path).read()
	for key, line in replace.items():
		text, n = re.subn(r"^%s\s*=.*?;[ \t]*(#.*)?$" % re.escape(key), line, text, count=1,
				  flags=re.M | re.S)
		if n == 0:
			text += line + "\n"
	with open(path, "w") as f:
		f.write(text)


def himds_token(port):
	"""The managed-identity token through the challenge: (status, body)."""
	path = "/metadata/identity/oauth2/token?api-version=2020-06-01&resource=https%3A%2F%2Fmanagement.azure.com"

	def get(headers):
		c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
		try:
			c.request("GET", path, headers=headers)
			r = c.getresponse()
			return r.status, r.getheader("WWW-Authenticate"), r.read().decode()
		finally:
			c.close()
	status, www, body = get({"Metadata": "true"})
	check(status == 401 and www and www.startswith("Basic realm="), "token challenge: %d %r %s" % (status, www, body))
	key_file = www[len("Basic realm="):]
	check(key_file.startswith("/run/arc/tokens/") or key_file.startswith("/var/lib/arc/"),
	      "the challenge key file %s is outside the installed dirs" % key_file)
	with open(key_file) as f:
		key = f.read().strip()
	return get({"Metadata": "true", "Authorization": "Basic " + key})[0::2]


def check_layout():
	"""The directories of the security layout, with their owners and modes."""
	for path, (owner, group, mode) in LAYOUT.items():
		st = os.lstat(path)
		have = (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode))
		check(stat.S_ISDIR(st.st_mode) and have == (owner, group, mode),
		      "%s: %s:%s %o, want %s:%s %o" % ((path,) + have + (owner, group, mode)))


def run_dir_users():
	"""The daemons named by /run/arc/<prog>.pid that are alive (/proc/<pid>/comm is prog)."""
	out = []
	try:
		names = os.listdir("/run/arc")
	except FileNotFoundError:
		return out
	for n in names:
		if not n.endswith(".pid"):
			continue
		try:
			with open(os.path.join("/run/arc", n)) as f:
				pid = int(f.read().strip() or "0")
			with open("/proc/%d/comm" % pid) as f:
				if pid > 0 and f.read().strip() == n[:-4]:
					out.append("%s %d" % (n[:-4], pid))
		except (OSError, ValueError):
			continue
	return out


def set_run_dir_aside():
	"""A /run/arc not in use renamed beside it: its new path, or None when there was none."""
	if not os.path.lexists("/run/arc"):
		return None
	aside = tempfile.mkdtemp(prefix="arc.install-test-", dir="/run")
	os.rmdir(aside)
	os.rename("/run/arc", aside)
	return aside


@test(timeout=300)
def deb_install_connect_token_remove_purge(env):
	if SANITIZE:
		raise harness.Skip("a sanitizer build is not packaged: make test (the plain run) tests the .deb")
	if os.geteuid() != 0:
		raise harness.Skip("needs root: dpkg -i")
	check(installed() == "" or installed().startswith("un"),
	      "%s is installed here already (%s): this test installs and purges it" % (PKG, installed()))
	for d in ("/etc/arc", "/var/lib/arc"):
		check(not os.path.exists(d), "%s exists before the package: an installation of something else" % d)
	# /run/arc may be left over (an earlier installation removed without a reboot, a daemon run
	# with the default run dir): in use, it is someone's; if not, it is set aside for the test
	# (the package's own /run/arc is checked from nothing) and put back after it.
	running = run_dir_users()
	check(not running, "/run/arc is in use (%s): an installation of something else" % running)
	deb = build_deb()
	before = snapshot()
	before_running = running_installed()
	daemons, sim = [], None
	work = tempfile.mkdtemp(prefix="deb-", dir=harness.tmp_root())
	os.chmod(work, 0o755)
	aside = set_run_dir_aside()
	try:
		dpkg("-i", str(deb))
		check(installed() == "ii", "after dpkg -i: %r" % installed())
		# Users, directories; nothing runs.
		arc = grp.getgrnam("arc")
		for u in ("arcproxy", "himds"):
			pwd.getpwnam(u)
			check(u in arc.gr_mem, "%s is not in group arc: %r" % (u, arc.gr_mem))
		check_layout()
		ctl = subprocess.run(["dpkg-query", "--control-show", PKG, "conffiles"], capture_output=True, text=True)
		check(sorted(ctl.stdout.split()) == ["/etc/arc/arcproxy.conf", "/etc/arc/extmgr.conf",
						     "/etc/arc/guestconfig.conf", "/etc/arc/himds.conf",
						     "/etc/arc/notify.conf"],
		      "conffiles: %r" % ctl.stdout)
		check(running_installed() == before_running, "dpkg -i started %r" % running_installed())
		# Installed again (an upgrade to the same version): the maintainer scripts run again.
		dpkg("-i", str(deb))
		check(installed() == "ii" and running_installed() == before_running and
		      all(os.path.isdir(p) for p in LAYOUT), "a second dpkg -i: %r" % installed())
		units = "/lib/systemd/system"

		# The cloud, and the operator's settings for this machine (ports: the suite runs
		# beside other work, so not the default ones).
		sim = tcs.Sim()
		sim.control = {"onboarding_tokens": [TOKEN], "location": "simregion"}
		sim.management = "control"
		r = sim.run("pki", sim.pki)
		check(r.returncode == 0, "cloudsim pki: %s" % r.stderr)
		sim.write_config()
		sim.start()
		shutil.copy(os.path.join(sim.pki, "ca.crt"), "/etc/arc/ca.crt")
		os.chmod("/etc/arc/ca.crt", 0o644)
		px_port, admin_port, himds_port = free_port(), free_port(), free_port()
		set_conf("/etc/arc/arcproxy.conf", {
			"listen": 'listen = [ "127.0.0.1:%d" ];' % px_port,
			"admin_listen": 'admin_listen = "127.0.0.1:%d";' % admin_port,
			"hosts": 'hosts = ( { name = "gw.cloudsim.test"; address = "127.0.0.1"; } );'})
		set_conf("/etc/arc/himds.conf", {
			"listen": 'listen = [ "127.0.0.1:%d" ];' % himds_port,
			"proxy": 'proxy = "http://127.0.0.1:%d";' % px_port})
		token_file = os.path.join(work, "token")
		with open(token_file, "w") as f:
			f.write(TOKEN + "\n")
		gw_url = "https://gw.cloudsim.test:%d" % sim.gw_port

		# A gateway configured: agent.conf appears, and arcproxyd.path starts arcproxyd.
		check(not os.path.exists(path_condition(units + "/arcproxyd.path")), "agent.conf before any setting")
		for k, v in (("gateway.url", gw_url), ("gateway.ca_file", "/etc/arc/ca.crt")):
			r = azcmagent("config", "set", k, v)
			check(r.returncode == 0, "azcmagent config set %s: %d %s" % (k, r.returncode, r.stderr))
		check(os.path.exists(path_condition(units + "/arcproxyd.path")), "config set wrote no agent.conf")
		px = UnitProcess(units + "/arcproxyd.service", work)
		daemons.append(px)
		check(harness.wait_port(px_port, 10, px.proc), "arcproxyd did not listen on %d\n%s" % (px_port, px.tail()))

		# Connect: the installed azcmagent registers through arcproxy and the gateway.
		check(not os.path.exists(path_condition(units + "/himdsd.path")), "machine.json before connect")
		r = azcmagent("connect", "--cloud-url", "https://management.cloudsim.test", "--gateway-url", gw_url,
			      "--ca-file", "/etc/arc/ca.crt", "--onboarding-token-file", token_file,
			      "--resource-name", NAME, "--himds", "http://127.0.0.1:%d" % himds_port)
		check(r.returncode == 0, "azcmagent connect: exit %d\n%s%s\n%s\n%s" % (
			r.returncode, r.stdout, r.stderr, px.tail(), sim.stderr_tail(10)))
		check(os.path.exists(path_condition(units + "/himdsd.path")), "connect wrote no machine.json")
		hm = UnitProcess(units + "/himdsd.service", work)
		daemons.append(hm)
		check(harness.wait_port(himds_port, 10, hm.proc), "himdsd did not listen on %d\n%s" % (himds_port, hm.tail()))
		for d in daemons:
			st = os.stat("/proc/%d" % d.proc.pid)
			want = one(d.unit, "Service", "User")
			check(pwd.getpwuid(st.st_uid).pw_name == want, "%s runs as uid %d, not %s" % (d.name, st.st_uid, want))

		status, body = himds_token(himds_port)
		check(status == 200 and json.loads(body).get("access_token"), "token: %d %s\n%s" % (status, body, hm.tail()))
		r = azcmagent("show", "-j", "--himds", "http://127.0.0.1:%d" % himds_port)
		doc = json.loads(r.stdout or "{}")
		check(doc.get("status") == "Connected" and doc.get("resourceName") == NAME,
		      "azcmagent show: %d %s %s" % (r.returncode, r.stdout, r.stderr))
		px.reload()
		check(px.alive(), "arcproxyd died on ExecReload\n%s" % px.tail())

		# Remove: the daemons stop, the programs go, config and state stay.
		dpkg("-r", PKG)
		for d in daemons:
			check(harness.poll(lambda: not d.alive(), timeout=10), "%s still runs after dpkg -r" % d.name)
		check(installed() == "rc", "after dpkg -r: %r" % installed())
		for f in ("/usr/sbin/arcproxy", "/usr/sbin/himds", "/usr/bin/azcmagent", units + "/arcproxyd.service"):
			check(not os.path.exists(f), "dpkg -r left %s" % f)
		for f in ("/etc/arc/arcproxy.conf", "/etc/arc/agent.conf", "/var/lib/arc/machine.json"):
			check(os.path.exists(f), "dpkg -r removed %s" % f)
		check("127.0.0.1:%d" % px_port in open("/etc/arc/arcproxy.conf").read(), "the edited conffile changed")

		# Installed again over what dpkg -r left (the run dir with the daemons' pid files, config,
		# state), as without a reboot: the layout is right again, the edit kept, nothing runs.
		check(os.path.isdir("/run/arc"), "dpkg -r removed /run/arc")
		dpkg("-i", str(deb))
		check(installed() == "ii" and running_installed() == before_running, "dpkg -i after dpkg -r: %r %r"
		      % (installed(), running_installed()))
		check_layout()
		check("127.0.0.1:%d" % px_port in open("/etc/arc/arcproxy.conf").read(),
		      "reinstalling changed the edited conffile")
		dpkg("-r", PKG)

		# Purge: nothing of it is left.
		dpkg("-P", PKG)
		check(installed() == "", "after dpkg -P: %r" % installed())
		for d in ("/etc/arc", "/var/lib/arc", "/run/arc"):
			check(not os.path.exists(d), "dpkg -P left %s" % d)
		after = snapshot()
		check(after == before, "files the package left: %s; files gone: %s"
		      % (sorted(after - before)[:20], sorted(before - after)[:20]))
		check(running_installed() == before_running, "still running: %r" % running_installed())
	finally:
		for d in daemons:
			d.stop()
		if sim is not None:
			sim.stop()
		if installed():
			subprocess.run(["dpkg", "-P", PKG], capture_output=True, timeout=120)
		for d in ("/etc/arc", "/var/lib/arc", "/run/arc"):
			shutil.rmtree(d, ignore_errors=True)
		if aside:
			os.rename(aside, "/run/arc")
