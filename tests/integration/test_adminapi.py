"""arcproxy's admin API (admin_listen): who may reload the identity, and bounded requests.

Expectations:
- POST /identity/reload reloads the configuration and the machine identity (the log says
  "configuration reloaded") for root, for arcproxy's own user and for members of group arc (himds
  after a renewal); any other local user gets 403 and nothing is reloaded.  The caller's uid is the
  kernel's (the owner of the client's TCP socket), not anything the request says.  GET on it is 405,
  POST on /metrics or /healthz 405.
- A request head larger than 8 KiB, or a body larger than 1 KiB, is refused (4xx or a closed
  connection), never served, and arcproxy keeps answering.
"""

import grp
import os
import pwd
import re
import socket
import subprocess

import harness
from harness import Skip, check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

ROOT = os.geteuid() == 0


def setup():
	return harness.standard_env(name="adminapi")


def teardown(env):
	return harness.stop_env(env)


def post(p, path, user=None, body=b""):
	"""POST with curl as user (a pwd entry; None: as we are): (HTTP status, stderr)."""
	kw = {}
	if user is not None:
		kw = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
	r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
			    "--data-binary", body.decode(), "http://127.0.0.1:%d%s" % (p.admin_port, path)],
			   capture_output=True, text=True, timeout=10, **kw)
	return int(r.stdout or 0), r.stderr


def reloads(p):
	return len(re.findall("configuration reloaded", p.stderr_text()))


def outsider():
	"""A local user that is neither root, nor arcproxy's user, nor in group arc."""
	if not ROOT:
		raise Skip("needs root to act as another local user")
	arc = None
	try:
		arc = grp.getgrnam("arc")
	except KeyError:
		pass
	for name in ("daemon", "bin", "sys", "games", "www-data"):
		try:
			pw = pwd.getpwnam(name)
		except KeyError:
			continue
		if pw.pw_uid != 0 and (arc is None or (name not in arc.gr_mem and pw.pw_gid != arc.gr_gid)):
			return pw
	raise Skip("no local user outside group arc")


@test
def identity_reload_for_root_and_arcproxy_only(env):
	p = env.proxy
	before = reloads(p)
	status, _ = post(p, "/identity/reload")
	check(status == 200, "POST /identity/reload as %s: %d" % ("root" if ROOT else "the owner", status))
	check(poll(lambda: reloads(p) == before + 1), "no reload after an allowed POST:\n%s" % p.stderr_tail())
	if p.user is not None:
		status, _ = post(p, "/identity/reload", user=p.user)
		check(status == 200, "POST as arcproxy's own user: %d" % status)
		check(poll(lambda: reloads(p) == before + 2), "no reload for arcproxy's own user")
	who = outsider()
	n = reloads(p)
	status, _ = post(p, "/identity/reload", user=who)
	check(status == 403, "POST /identity/reload as %s (uid %d): %d, want 403" % (who.pw_name, who.pw_uid, status))
	check(p.log_has(r"identity reload refused to uid %d" % who.pw_uid), "the refusal is not logged")
	check(reloads(p) == n, "an outsider's POST reloaded the configuration")
	status, _, _ = p.admin_get("/identity/reload")
	check(status == 405, "GET /identity/reload: %d, want 405" % status)
	status, _ = post(p, "/metrics")
	check(status == 405, "POST /metrics: %d, want 405" % status)
	harness.healthy(p)


def raw_admin(p, data):
	"""Send data to the admin port; the status code of the answer, or None when it closed."""
	s = socket.create_connection(("127.0.0.1", p.admin_port), timeout=5)
	try:
		try:
			s.sendall(data)
		except (BrokenPipeError, ConnectionResetError):
			pass
		buf = b""
		try:
			while b"\r\n" not in buf:
				d = s.recv(4096)
				if not d:
					break
				buf += d
		except (ConnectionResetError, socket.timeout):
			pass
	finally:
		s.close()
	m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
	return int(m.group(1)) if m else None


@test
def oversize_head_and_body_refused(env):
	p = env.proxy
	big = "x" * 20000
	status = raw_admin(p, ("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: %s\r\n\r\n" % big).encode())
	check(status is None or 400 <= status < 500, "a 20 KB head to the admin API: %r, want 4xx or a close" % status)
	status = raw_admin(p, ("GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n" % big).encode())
	check(status is None or 400 <= status < 500, "a 20 KB request line: %r, want 4xx or a close" % status)
	status = raw_admin(p, b"POST /identity/reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n"
			   + b"y" * 5000)
	check(status is None or 400 <= status < 500, "a 5 KB body: %r, want 4xx or a close" % status)
	status, _, _ = p.admin_get("/healthz")
	check(status == 200, "/healthz after oversize requests: %d" % status)
	harness.healthy(p)
