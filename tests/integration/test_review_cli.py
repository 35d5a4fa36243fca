"""azcmagent, run by root in a terminal, prints nothing that another party chose as a control sequence.

Expectations:
- What answers on himds's port and arcproxy's admin port (any local user can bind them while the
  daemons are down, and the cloud's texts reach them) cannot put ESC, BEL, CSI or a line break of
  its choosing on root's terminal through `azcmagent show`: control characters print as '?'
  (line breaks and tabs as spaces); `-j` keeps the strings exact, JSON-escaped.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import harness
from fixtures import JsonStandIn
from harness import check, free_port, test

AZCMAGENT = harness.BIN_DIR / "azcmagent"

# OSC 0 (window title), CSI 2J (clear), BEL, a C1 CSI as UTF-8, and a forged line.
EVIL = "\x1b]0;pwned\x07\x1b[2J\u009b31m\nFORGED LINE\r"
BAD = ("\x1b", "\x07", "\u009b", "\r")


def _dirs(tmp):
	conf, state, run = (os.path.join(tmp, d) for d in ("conf", "state", "run"))
	for d in (conf, state, run, os.path.join(state, "arcproxy")):
		os.makedirs(d)
	return conf, state, run


def _no_controls(what, text):
	for c in BAD:
		check(c not in text, "%s holds %r: %r" % (what, c, text))
	check("\nFORGED LINE" not in text, "%s has a forged line: %r" % (what, text))


@test(timeout=30)
def show_prints_no_control_characters_from_local_apis(env):
	tmp = tempfile.mkdtemp(prefix="review-cli-", dir=harness.tmp_root())
	srvs = []
	try:
		conf, state, run = _dirs(tmp)
		with open(os.path.join(state, "machine.json"), "w") as f:
			json.dump({"cloudUrl": "https://management.cloudsim.test" + EVIL,
				   "resource": {"name": "m1", "location": "west" + EVIL,
						"tags": {"k" + EVIL: "v" + EVIL}}}, f)
		himds, admin = free_port(), free_port()
		with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\n'
				'routes = ( );\n' % (free_port(), admin))
		srvs.append(JsonStandIn(himds, {"status": "Connected" + EVIL, "lastHeartbeat": EVIL,
					   "lastError": "boom" + EVIL}))
		srvs.append(JsonStandIn(admin, {"pid": 1, "config": {"generation": 1, "loaded_at": EVIL},
					   "routes": [{"match": "*" + EVIL, "route": "direct" + EVIL}],
					   "default_route": EVIL, "gateway": {"state": "up" + EVIL,
					   "last_error": EVIL, "endpoints": 1}}))
		base = [str(AZCMAGENT), "show", "--config-dir", conf, "--state-dir", state,
			"--run-dir", run, "--himds", "http://127.0.0.1:%d" % himds]
		r = subprocess.run(base, capture_output=True, text=True, timeout=20)
		check(r.returncode == 0, "show: exit %d: %s" % (r.returncode, r.stderr.strip()))
		check("boom" in r.stdout and "Agent Error" in r.stdout, "show: %r" % r.stdout)
		_no_controls("show's stdout", r.stdout)
		_no_controls("show's stderr", r.stderr)
		r = subprocess.run(base + ["-j"], capture_output=True, text=True, timeout=20)
		check(r.returncode == 0, "show -j: exit %d: %s" % (r.returncode, r.stderr.strip()))
		check(json.loads(r.stdout)["lastError"] == "boom" + EVIL, "show -j changed the string")
		# JSON escapes C0 itself; C1 (U+0080-U+009F) only as \u escapes, all non-ASCII is.
		_no_controls("show -j's stdout", r.stdout)
	finally:
		for s in srvs:
			s.close()
		shutil.rmtree(tmp, ignore_errors=True)


@test(timeout=40)
def check_prints_no_control_characters_from_the_proxy(env):
	"""What answers on arcproxy's port (a local user's listener while arcproxy is down) writes
	the CONNECT refusal's Proxy-Status, which `check` quotes on stdout and stderr."""
	tmp = tempfile.mkdtemp(prefix="review-cli-", dir=harness.tmp_root())
	lsn = None
	try:
		conf, state, run = _dirs(tmp)
		lsn = socket.socket()
		lsn.bind(("127.0.0.1", 0))
		lsn.listen(16)
		evil = EVIL.replace("\n", "").replace("\r", "").encode()

		def refuse():
			while True:
				try:
					c, _ = lsn.accept()
				except OSError:
					return
				c.recv(4096)
				c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nProxy-Status: arcproxy; error=" + evil +
					  b"\r\nContent-Length: 0\r\n\r\n")
				c.close()
		threading.Thread(target=refuse, daemon=True).start()
		with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\n'
				'routes = ( );\n' % (lsn.getsockname()[1], free_port()))
		r = subprocess.run([str(AZCMAGENT), "check", "--cloud-url", "https://management.cloudsim.test",
				    "--config-dir", conf, "--state-dir", state, "--run-dir", run],
				   capture_output=True, text=True, timeout=20)
		check(r.returncode == 26, "check: exit %d: %s" % (r.returncode, r.stderr.strip()))
		check("pwned" in r.stdout + r.stderr, "check did not quote the refusal: %r %r"
		      % (r.stdout, r.stderr))
		_no_controls("check's stdout", r.stdout)
		_no_controls("check's stderr", r.stderr)
	finally:
		if lsn is not None:
			lsn.close()
		shutil.rmtree(tmp, ignore_errors=True)


def _cert(tmp):
	"""A throwaway self-signed certificate and key (PEM paths)."""
	crt, key = os.path.join(tmp, "any.crt"), os.path.join(tmp, "any.key")
	subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
			"-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=any", "-days", "1"],
		       check=True, capture_output=True, timeout=20)
	return crt, key


@test(timeout=60)
def disconnect_follows_nothing_planted_in_himds_folder(env):
	"""<state>/himds is himds's: disconnect, as root, hands the machine certificate and key to
	TLS without following what that user planted there. A FIFO as machine.key hung it for good
	(libcurl opened it by name once the proxy said 200); a symlink made root read the file it
	names."""
	tmp = tempfile.mkdtemp(prefix="review-cli-", dir=harness.tmp_root())
	lsn = None
	try:
		conf, state, run = _dirs(tmp)
		himds = os.path.join(state, "himds")
		os.makedirs(himds)
		crt, key = _cert(tmp)
		shutil.copy(crt, os.path.join(himds, "machine.crt"))
		with open(os.path.join(state, "machine.json"), "w") as f:
			json.dump({"cloudUrl": "https://management.cloudsim.test", "caFile": crt,
				   "resource": {"name": "m1"}}, f)
		lsn = socket.socket()
		lsn.bind(("127.0.0.1", 0))
		lsn.listen(16)
		held = []

		def tunnel():	# says 200 to every CONNECT, then holds the connection
			while True:
				try:
					c, _ = lsn.accept()
				except OSError:
					return
				c.recv(4096)
				c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
				held.append(c)
		threading.Thread(target=tunnel, daemon=True).start()
		proxy = "http://127.0.0.1:%d" % lsn.getsockname()[1]
		for plant in ("fifo", "symlink"):
			path = os.path.join(himds, "machine.key")
			if os.path.lexists(path):
				os.unlink(path)
			if plant == "fifo":
				os.mkfifo(path, 0o640)
			else:
				os.symlink(key, path)
			try:
				r = subprocess.run([str(AZCMAGENT), "disconnect", "--config-dir", conf,
						    "--state-dir", state, "--run-dir", run, "--proxy", proxy],
						   capture_output=True, text=True, timeout=15)
			except subprocess.TimeoutExpired:
				raise AssertionError("disconnect hung on the %s planted as machine.key" % plant)
			check(r.returncode == 1 and "machine.key" in r.stderr,
			      "disconnect with a %s as machine.key: exit %d: %s"
			      % (plant, r.returncode, r.stderr.strip()))
			check(os.path.lexists(path), "disconnect removed the identity")
	finally:
		if lsn is not None:
			lsn.close()
		shutil.rmtree(tmp, ignore_errors=True)


# Run as nobody: flock the config dir (argv[1]) and hold it.
HOLD_LOCK = """\
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


@test(timeout=60)
def a_local_user_cannot_hold_the_writers_lock(env):
	"""The writers' lock (config set/clear, connect, disconnect) was flock(2) on the config dir,
	which any user who can open /etc/arc may take too: an unprivileged user held it and root's
	`azcmagent config set incomingconnections.enabled false` waited for good."""
	if os.geteuid() != 0:
		return
	tmp = tempfile.mkdtemp(prefix="review-cli-", dir=harness.tmp_root())
	holder = None
	try:
		os.chmod(tmp, 0o755)
		conf, state, run = _dirs(tmp)
		for d in (conf, state, run):
			os.chmod(d, 0o755)
		script = os.path.join(tmp, "hold.py")
		with open(script, "w") as f:
			f.write(HOLD_LOCK)
		os.chmod(script, 0o644)
		holder = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
					   "python3", script, conf], stdout=subprocess.PIPE, text=True)
		check(holder.stdout.readline().strip() == "held", "nobody could not flock the config dir")
		try:
			r = subprocess.run([str(AZCMAGENT), "config", "set", "incomingconnections.enabled",
					    "false", "--config-dir", conf, "--state-dir", state, "--run-dir", run],
					   capture_output=True, text=True, timeout=10)
		except subprocess.TimeoutExpired:
			raise AssertionError("config set waited for the lock a local user held")
		check(r.returncode == 0, "config set: exit %d: %s" % (r.returncode, r.stderr.strip()))
		with open(os.path.join(conf, "agent.conf")) as f:
			check("enabled = false" in f.read(), "agent.conf lacks the setting")
	finally:
		if holder is not None:
			holder.kill()
			holder.wait()
		shutil.rmtree(tmp, ignore_errors=True)
