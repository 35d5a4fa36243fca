"""himds: its configuration, its privileges, and the states without a usable identity.

Expectations:
- `himds -n` names file and line of a broken himds.conf or agent.conf and exits 1 with one line.
  Started as root it runs as user himds (its groups, no capability at all) and says in one line
  when there is no such user; as anyone else it stays that user.
- Without an identity (no machine.json) it runs: /agentstatus says Disconnected with resourceId
  null, the metadata and token endpoints answer 503, himds.json says Disconnected, and nothing
  goes to arcproxy.  A SIGHUP after the identity appears serves it; a broken himds.conf on SIGHUP
  is refused and the old one kept.  An expired machine certificate is the state Expired, and no
  heartbeat goes out with it.
- SIGTERM: exit 0, the pid file and key files gone, no sanitizer report.
The metadata API: test_himds_metadata.py; the token challenge: test_himds_challenge.py; with
cloudsim's control plane: test_himds_cloud.py.
"""

import grp
import os
import pwd
import re
import signal
import subprocess
import time

import fixtures
import harness
from fixtures import (INSTANCE, MD, MD_ENDPOINTS, ROOT, TOKEN, api, new_himds, put_file,
		      put_local_identity, read_key, up)
from harness import Skip, check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.himds_env(empty=True)


def teardown(env):
	return fixtures.stop_himds_env(env)


# --- configuration and privileges ------------------------------------------------

@test
def config_errors_name_file_and_line(env):
	h = new_himds(env, "himds-conf")
	h.write_config('listen = [ "127.0.0.1:1" ];\n\nproxy = "https://127.0.0.1:40343";\n')
	r = subprocess.run(h.command("-n"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 1, "himds -n on a bad proxy: exit %d" % r.returncode)
	lines = r.stderr.strip().splitlines()
	check(len(lines) == 1 and "himds.conf:3:" in lines[0] and "proxy" in lines[0],
	      "expected one line naming himds.conf:3 and proxy, got %r" % r.stderr)
	h.write_config('listen = [ "127.0.0.1:1" ];\nheartbeat_every = 5;\n')
	r = subprocess.run(h.command("-d"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 1 and re.search(r"himds\.conf:2: unknown key 'heartbeat_every'", r.stderr),
	      "himds -d on an unknown key: exit %d, %r" % (r.returncode, r.stderr))
	h.write_config()
	with open(os.path.join(h.conf_dir, "agent.conf"), "w") as f:
		f.write('connection = { type = "sideways"; };\n')
	r = subprocess.run(h.command("-n"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 1 and "agent.conf:1:" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
	      "himds -n on a bad agent.conf: exit %d, %r" % (r.returncode, r.stderr))
	os.unlink(os.path.join(h.conf_dir, "agent.conf"))
	r = subprocess.run(h.command("-n"), capture_output=True, text=True, timeout=10)
	check(r.returncode == 0 and "configuration OK" in r.stdout, "himds -n on a good file: %r" % (r,))


@test
def runs_as_user_himds(env):
	h = env.empty
	with open("/proc/%d/status" % h.proc.pid) as f:
		st = f.read()
	uid = int(re.search(r"^Uid:\s+(\d+)", st, re.M).group(1))
	if not ROOT:
		check(uid == os.getuid(), "started as uid %d, himds runs as %d" % (os.getuid(), uid))
		return
	pw = pwd.getpwnam("himds")
	check(uid == pw.pw_uid, "himds runs as uid %d, not himds (%d)" % (uid, pw.pw_uid))
	groups = [int(g) for g in re.search(r"^Groups:\s*(.*)$", st, re.M).group(1).split()]
	check(grp.getgrnam("arc").gr_gid in groups, "himds is not in group arc: %s" % groups)
	for field in ("CapEff", "CapPrm"):
		cap = int(re.search(r"^%s:\s+([0-9a-f]+)" % field, st, re.M).group(1), 16)
		check(cap == 0, "himds's %s is %#x, expected no capability (not even CAP_KILL)" % (field, cap))


@test
def root_without_the_himds_user(env):
	if not ROOT:
		raise Skip("needs root")
	passwd = os.path.join(harness.tmp_root(), "passwd-without-himds")
	with open("/etc/passwd") as f, open(passwd, "w") as out:
		out.writelines(l for l in f if not l.startswith("himds:"))
	h = new_himds(env, "himds-nouser")
	cmd = " ".join("'%s'" % a for a in h.command("-d"))
	r = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind %s /etc/passwd && exec %s" % (passwd, cmd)],
			   capture_output=True, text=True, timeout=10)
	if "mount" in r.stderr and "himds" not in r.stderr:
		raise Skip("cannot bind-mount /etc/passwd here: %s" % r.stderr.strip())
	lines = r.stderr.strip().splitlines()
	check(r.returncode == 1 and len(lines) == 1 and "no user 'himds'" in lines[0] and "useradd" in lines[0],
	      "expected exit 1 and one line about the missing user, got %d %r" % (r.returncode, r.stderr))


# --- not connected -------------------------------------------------------------

@test
def not_connected_is_a_state(env):
	h = env.empty
	status, _, doc = api(h, "/agentstatus", MD)
	check(status == 200 and doc["status"] == "Disconnected" and doc["resourceId"] is None and
	      doc["agentVersion"], "/agentstatus without identity: %d %r" % (status, doc))
	for path in (INSTANCE, MD_ENDPOINTS, TOKEN):
		status, _, doc = api(h, path, MD)
		check(status == 503 and doc.get("error") == "not_connected",
		      "%s without identity: %d %r" % (path, status, doc))
	check(poll(lambda: h.status_file().get("status") == "Disconnected"),
	      "himds.json: %r" % h.status_file())
	check(not os.listdir(h.token_dir()), "a key file was written without an identity")
	try:
		env.trap.accept()[0].close()
		raise AssertionError("himds without an identity connected to its proxy")
	except BlockingIOError:
		pass
	up(h)


@test
def sighup_reads_a_new_identity_and_refuses_a_bad_config(env):
	h = new_himds(env, "himds-hup", heartbeat_interval_seconds=300)
	h.start()
	status, _, _ = api(h, INSTANCE, MD)
	check(status == 503, "before the identity: %d" % status)
	put_local_identity(env.sim, h.state_dir)
	h.signal(signal.SIGHUP)
	check(poll(lambda: api(h, INSTANCE, MD)[0] == 200), "after SIGHUP the identity is not served")
	h.write_config("listen = [ 1 ];\n")
	h.signal(signal.SIGHUP)
	check(h.log_has(r"reload refused.*himds\.conf:1:"), "a bad config on SIGHUP was not refused\n%s"
	      % h.stderr_tail())
	up(h)
	check(api(h, INSTANCE, MD)[0] == 200, "himds does not serve after a refused reload")
	for name in ("machine.json", "himds/machine.crt", "himds/machine.key"):
		os.unlink(os.path.join(h.state_dir, name))
	h.write_config()
	h.signal(signal.SIGHUP)
	check(poll(lambda: api(h, INSTANCE, MD)[0] == 503), "after the identity went, it is still served")


def expired_cert(sim, key_path, cn, d):
	"""A certificate for key_path from sim's CA that expired an hour ago (openssl ca sets the dates)."""
	for name, text in (("index.txt", ""), ("serial", "1000\n"), ("ca.cnf",
			   "[ca]\ndefault_ca = c\n[c]\ndatabase = %s/index.txt\nserial = %s/serial\n"
			   "new_certs_dir = %s\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n"
			   % (d, d, d))):
		with open(os.path.join(d, name), "w") as f:
			f.write(text)
	csr = os.path.join(d, "m.csr")
	subprocess.run(["openssl", "req", "-new", "-key", key_path, "-subj", "/CN=" + cn, "-out", csr],
		       check=True, capture_output=True)
	stamp = lambda t: time.strftime("%y%m%d%H%M%SZ", time.gmtime(t))
	out = os.path.join(d, "m.crt")
	r = subprocess.run(["openssl", "ca", "-batch", "-notext", "-config", os.path.join(d, "ca.cnf"),
			    "-cert", sim.file("ca.crt"), "-keyfile", sim.file("ca.key"), "-in", csr, "-out", out,
			    "-startdate", stamp(time.time() - 7200), "-enddate", stamp(time.time() - 3600)],
			   capture_output=True, text=True)
	check(r.returncode == 0, "openssl ca: %s" % r.stderr)
	return read_key(out)


@test
def expired_certificate_is_a_state(env):
	h = new_himds(env, "himds-expired")
	put_local_identity(env.sim, h.state_dir)
	put_file(os.path.join(h.state_dir, "himds", "machine.crt"),
		 expired_cert(env.sim, os.path.join(h.state_dir, "himds", "machine.key"), "m1", h.base), 0o644)
	h.start()
	st = poll(lambda: h.status_file().get("status") == "Expired" and h.status_file())
	check(st and "expired" in st["lastError"], "himds.json with an expired certificate: %r" % h.status_file())
	status, _, doc = api(h, "/agentstatus", MD)
	check(doc["status"] == "Expired", "/agentstatus: %r" % doc)
	check(h.log_has(r"renewal: the machine certificate expired"), "no word about the renewal\n%s"
	      % h.stderr_tail())
	check(not h.log_has(r"heartbeat: HTTP", timeout=0.5), "a heartbeat went out with an expired certificate")
