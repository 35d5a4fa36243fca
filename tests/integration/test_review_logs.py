"""azcmagent logs, run as root, takes only files that root's own config names.

Expectations:
- Whatever answers on arcproxy's admin port (any local user can bind it while arcproxy is down)
  cannot make root's `azcmagent logs` copy a file of its choosing (a root-only 0600 file) into the
  support archive: the access log comes from arcproxy.conf, not from GET /status.
"""

import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading

import harness
from fixtures import JsonStandIn
from harness import check, free_port, test

AZCMAGENT = harness.BIN_DIR / "azcmagent"


def collect_logs(tmp, conf, state, run):
	"""azcmagent logs into tmp/logs.tar.gz, which must succeed with no sanitizer report; the
	archive's files, {path below its top folder: text}."""
	out = os.path.join(tmp, "logs.tar.gz")
	r = subprocess.run([str(AZCMAGENT), "logs", "--output", out, "-j", "--config-dir", conf,
			    "--state-dir", state, "--run-dir", run, "--himds", "http://127.0.0.1:%d" % free_port()],
			   capture_output=True, text=True, timeout=20)
	check(r.returncode == 0 and "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr,
	      "logs: exit %d: %s" % (r.returncode, r.stderr.strip()))
	with tarfile.open(out, "r:gz") as t:
		return {m.name.split("/", 1)[1]: t.extractfile(m).read().decode("utf-8", "replace")
			for m in t.getmembers() if m.isfile()}


@test(timeout=30)
def logs_ignores_access_log_named_by_admin_port(env):
	tmp = tempfile.mkdtemp(prefix="review-logs-", dir=harness.tmp_root())
	srv = None
	try:
		conf, state, run = (os.path.join(tmp, d) for d in ("conf", "state", "run"))
		for d in (conf, state, run, os.path.join(state, "arcproxy")):
			os.makedirs(d)
		secret = os.path.join(tmp, "root-only-secret.txt")
		with open(secret, "w") as f:
			f.write("ROOT-ONLY-SECRET-4711\n")
		os.chmod(secret, 0o600)
		port = free_port()
		with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\n'
				'routes = ( );\n' % (free_port(), port))
		srv = JsonStandIn(port, {"access_log": secret})
		members = collect_logs(tmp, conf, state, run)
		check("live/arcproxy-status.json" in members or "summary.json" in members,
		      "the archive: %r" % sorted(members))
		for name, text in members.items():
			check("ROOT-ONLY-SECRET-4711" not in text,
			      "the archive's %s holds the file that the admin port named (%s)" % (name, secret))
	finally:
		if srv is not None:
			srv.close()
		shutil.rmtree(tmp, ignore_errors=True)


@test(timeout=40)
def check_ignores_access_log_named_by_admin_port(env):
	"""`check` reads the access log for the route each probe took: a FIFO named by whatever
	answers on the admin port (arcproxy down, a local user on its ports) hung it for good."""
	tmp = tempfile.mkdtemp(prefix="review-check-", dir=harness.tmp_root())
	srv = lsn = None
	try:
		conf, state, run = (os.path.join(tmp, d) for d in ("conf", "state", "run"))
		for d in (conf, state, run, os.path.join(state, "arcproxy")):
			os.makedirs(d)
		fifo = os.path.join(tmp, "trap.log")
		os.mkfifo(fifo, 0o666)
		lsn = socket.socket()
		lsn.bind(("127.0.0.1", 0))
		lsn.listen(16)		# the "proxy": refuses every CONNECT

		def refuse():
			while True:
				try:
					c, _ = lsn.accept()
				except OSError:
					return
				c.recv(4096)
				c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
				c.close()
		threading.Thread(target=refuse, daemon=True).start()
		port = free_port()
		with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\n'
				'routes = ( );\n' % (lsn.getsockname()[1], port))
		srv = JsonStandIn(port, {"access_log": fifo})
		try:
			r = subprocess.run([str(AZCMAGENT), "check", "-j", "--cloud-url",
					    "https://management.cloudsim.test", "--config-dir", conf,
					    "--state-dir", state, "--run-dir", run],
					   capture_output=True, text=True, timeout=10)
		except subprocess.TimeoutExpired:
			raise AssertionError("azcmagent check hung on the FIFO %s that the admin port named" % fifo)
		check(r.returncode == 26 and "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr,
		      "check with a proxy that refuses: exit %d: %s"
		      % (r.returncode, r.stderr.strip()))
	finally:
		if srv is not None:
			srv.close()
		if lsn is not None:
			lsn.close()
		shutil.rmtree(tmp, ignore_errors=True)


@test(timeout=30)
def logs_skips_hard_links_in_arcproxys_folder(env):
	"""<state>/arcproxy is arcproxy's user's: a *.log there that is a hard link to a root-only file
	(which that user can make where fs.protected_hardlinks is 0) stays out of the archive."""
	tmp = tempfile.mkdtemp(prefix="review-links-", dir=harness.tmp_root())
	try:
		conf, state, run = (os.path.join(tmp, d) for d in ("conf", "state", "run"))
		for d in (conf, state, run, os.path.join(state, "arcproxy")):
			os.makedirs(d)
		secret = os.path.join(tmp, "root-only-secret.txt")
		with open(secret, "w") as f:
			f.write("ROOT-ONLY-SECRET-4712\n")
		os.chmod(secret, 0o600)
		os.link(secret, os.path.join(state, "arcproxy", "linked.log"))
		with open(os.path.join(state, "arcproxy", "access.log"), "w") as f:
			f.write("an access log line\n")
		with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\nroutes = ( );\n'
				% (free_port(), free_port()))
		members = collect_logs(tmp, conf, state, run)
		check("logs/access.log" in members, "the archive has no logs/access.log: %r" % sorted(members))
		for name, text in members.items():
			check("ROOT-ONLY-SECRET-4712" not in text,
			      "the archive's %s holds a root-only file through a hard link" % name)
	finally:
		shutil.rmtree(tmp, ignore_errors=True)
