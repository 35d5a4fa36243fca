"""Remote access through the gateway: incoming SSH sessions carried back over the machine's one
outbound route, under incomingconnections.enabled and .ports, on the notification channel.

Expectations:
- arcnotify keeps a WebSocket to notify.cloudsim.test through arcproxy and the gateway; a goal-state
  notification is written to <run>/notify/<topic> (the seq) at once, and an operator's PUT of an
  extension reaches that file in under a second (cloudsim's goal-state hook, then the channel).
- The real ssh client, with `cloudsim remote M P` as its ProxyCommand, reaches a real sshd on the
  machine's loopback port: a command runs, and a 64 MiB scp arrives intact.
- A local port that reads nothing holds the operator's sender back: arcnotify's memory stays
  bounded, and every byte arrives once the port reads.
- A half-close crosses the session both ways (an 8 MiB upload answered only after its EOF), and
  the session's log line counts the bytes each way.
- Refused, with the reason both at the operator (cloudsim remote's stderr, exit 1) and in
  arcnotify's log, and nothing ever connects to the port: incomingconnections.enabled = false, a
  port not in incomingconnections.ports, config.mode = monitor.
- `azcmagent config set incomingconnections.enabled false` ends a live session within a second.
- Pings both ways keep an idle channel up; a frozen gateway is noticed after dead_after_ms.
- The channel survives a gateway (cloudsim) restart, and a session after the restart works.
- The operator API refuses what it cannot do (no machine, a bad body, a bad topic), and cloudsim
  remote says why; a deleted machine's channel is refused (403 at the gateway) when it reconnects.
"""

import hashlib
import os
import re
import socket
import time

import fixtures
import fx_remote
from fx_remote import MACHINE, azcm, channel_up, remote, ssh
from harness import check, free_port, poll, test


def setup():
	return fx_remote.remote_env()


def teardown(env):
	return fx_remote.stop_remote_env(env)


@test
def goal_state_wakes_the_agentlet(env):
	for topic, seq in (("extensions", 7), ("guestConfiguration", 12)):
		t0 = time.monotonic()
		status, body = env.sim.operator("POST", "/operator/machines/%s/goalState" % MACHINE,
						 {"topic": topic, "seq": seq})
		check(status == 200 and body == {"sent": True}, "goalState: %d %r" % (status, body))
		path = env.notify.wake_file(topic)
		seen = poll(lambda: os.path.exists(path) and open(path).read() == "%d\n" % seq,
			    timeout=2, interval=0.02)
		check(seen, "%s does not hold %d\n%s" % (path, seq, env.notify.stderr_tail()))
		check(time.monotonic() - t0 < 1.0, "the wake file took %.2f s" % (time.monotonic() - t0))
	st = os.stat(os.path.dirname(env.notify.wake_file("extensions")))
	check(st.st_mode & 0o777 == 0o755, "<run>/notify mode %o" % (st.st_mode & 0o777))
	check(st.st_uid == fx_remote.pwd.getpwnam("arcnotify").pw_uid, "<run>/notify is not arcnotify's")


@test(timeout=60)
def extension_change_wakes_the_agentlet(env):
	"""An operator PUT of an extension: cloudsim's goal-state hook, the channel, the wake file."""
	handler = os.path.join(env.sim.base, "handler")
	os.makedirs(handler, exist_ok=True)
	with open(os.path.join(handler, "HandlerManifest.json"), "w") as f:
		f.write('[{"handlerManifest":{"installCommand":"run.sh","uninstallCommand":"run.sh",'
			'"updateCommand":"run.sh","enableCommand":"run.sh","disableCommand":"run.sh"}}]')
	with open(os.path.join(handler, "run.sh"), "w") as f:
		f.write("#!/bin/sh\nexit 0\n")
	if env.sim.user:
		for p in (handler, os.path.join(handler, "run.sh"), os.path.join(handler, "HandlerManifest.json")):
			os.chown(p, env.sim.user.pw_uid, env.sim.user.pw_gid)
	r = env.sim.run("ext-pack", handler, "--publisher", "Cloudsim.Samples", "--type", "Wake", "--version",
			"1.0.0", "-o", env.sim.packages_dir, "--pki", env.sim.pki)
	check(r.returncode == 0, "ext-pack: %s" % r.stderr)
	path = env.notify.wake_file("extensions")
	before = open(path).read() if os.path.exists(path) else None
	t0 = time.monotonic()
	status, body = env.sim.operator("PUT", "/operator/machines/%s/extensions/wake" % MACHINE,
					 {"publisher": "Cloudsim.Samples", "type": "Wake", "version": "1.0.0"})
	check(status in (200, 201), "PUT extension: %d %r" % (status, body))
	changed = poll(lambda: os.path.exists(path) and open(path).read() != before, timeout=2, interval=0.02)
	took = time.monotonic() - t0
	check(changed, "the wake file did not change\n%s\n%s" % (env.notify.stderr_tail(), env.sim.stderr_tail()))
	check(took < 1.0, "the wake file changed after %.2f s" % took)
	seq = open(path).read().strip()
	check(env.sim.log_has(r"goal state extensions %s for %s: sent down its channel" % (seq, MACHINE)),
	      "cloudsim did not say it sent seq %s" % seq)


@test(timeout=60)
def ssh_command_through_the_gateway(env):
	r = ssh(env, "echo", "hello-from", "$((6*7))")
	check(r.returncode == 0, "ssh: exit %d: %s\n%s\n%s" % (r.returncode, r.stderr.decode(errors="replace"),
							     env.notify.stderr_tail(), env.sim.stderr_tail()))
	check(r.stdout == b"hello-from 42\n", "ssh output %r" % r.stdout)
	check(env.notify.log_has(r"session \w+ for \S+ \(cloudsim remote\) to port %d ended: both sides "
				 r"closed; up=\d+ down=\d+ ms=\d+" % env.sshd.port),
	      "no session line in arcnotify's log\n" + env.notify.stderr_tail())
	# The gateway's audit line is written when the tunnel ends.
	check(env.sim.log_has(r"connect relay\.cloudsim\.test:443 machine=%s .*status=200" % MACHINE),
	      "the session did not come through the gateway")


@test(timeout=120)
def scp_64_mib_intact(env):
	src = os.path.join(env.sshd.base, "payload")
	dst = os.path.join(env.sshd.base, "copied")
	data = os.urandom(1 << 20) * 64
	with open(src, "wb") as f:
		f.write(data)
	args = ["scp", "-q", *env.sshd.ssh_args(proxy_command=fx_remote.remote_command(env)),
		src, "%s@arc-remote-it:%s" % (env.sshd.user, dst)]
	r = fixtures.subprocess.run(args, capture_output=True, timeout=110, stdin=fixtures.subprocess.DEVNULL)
	check(r.returncode == 0, "scp: exit %d: %s\n%s" % (r.returncode, r.stderr.decode(errors="replace"),
							 env.notify.stderr_tail()))
	with open(dst, "rb") as f:
		got = hashlib.sha256(f.read()).hexdigest()
	check(got == hashlib.sha256(data).hexdigest(), "the copy differs")
	os.unlink(src)
	os.unlink(dst)


class DigestServer:
	"""Reads until the client's EOF (a half-close), then answers the SHA-256 of what came and
	closes: only a half-close passed across the whole session gets an answer.  With a gate, it
	reads nothing until the gate is set."""

	def __init__(self, gate=None):
		self.gate = gate
		self.sock = socket.socket()
		self.sock.bind(("127.0.0.1", 0))
		self.sock.listen(4)
		self.port = self.sock.getsockname()[1]
		self.thread = fixtures.threading.Thread(target=self.serve, daemon=True)
		self.thread.start()

	def serve(self):
		try:
			c, _ = self.sock.accept()
		except OSError:
			return
		with c:
			if self.gate is not None:
				self.gate.wait(30)
			h = hashlib.sha256()
			while True:
				b = c.recv(1 << 16)
				if not b:
					break
				h.update(b)
			c.sendall(h.hexdigest().encode() + b"\n")

	def close(self):
		self.sock.close()
		self.thread.join(5)


@test(timeout=60)
def half_close_crosses_the_session(env):
	srv = DigestServer()
	try:
		azcm(env, "config", "set", "incomingconnections.ports", "%d,%d" % (env.sshd.port, srv.port))
		data = os.urandom(1 << 20) * 8
		rc, out, err = remote(env, srv.port, input=data, timeout=50)
		check(rc == 0, "cloudsim remote: exit %d: %s" % (rc, err))
		check(out == hashlib.sha256(data).hexdigest().encode() + b"\n",
		      "the answer after the half-close: %r" % out[:100])
		check(env.notify.log_has(r"to port %d ended: both sides closed; up=%d down=65 " % (srv.port, len(data))),
		      "the session's log line lacks the bytes\n" + env.notify.stderr_tail())
	finally:
		azcm(env, "config", "set", "incomingconnections.ports", str(env.sshd.port))
		srv.close()


def rss_kib(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	return 0


@test(timeout=90)
def a_stalled_port_holds_the_sender_back(env):
	"""The local port reads nothing for a while: arcnotify buffers a bounded amount (buffer_bytes per
	direction), the sender waits, and every byte arrives once the port reads."""
	gate = fixtures.threading.Event()
	srv = DigestServer(gate)
	before = rss_kib(env.notify.proc.pid)
	data = os.urandom(1 << 20) * 48
	try:
		azcm(env, "config", "set", "incomingconnections.ports", "%d,%d" % (env.sshd.port, srv.port))
		p = fixtures.subprocess.Popen([str(fixtures.CLOUDSIM), "remote", MACHINE, str(srv.port), "--operator",
					       env.sim.operator_url()], stdin=fixtures.subprocess.PIPE,
					      stdout=fixtures.subprocess.PIPE, stderr=fixtures.subprocess.PIPE)
		feeder = fixtures.threading.Thread(target=lambda: (p.stdin.write(data), p.stdin.close()), daemon=True)
		feeder.start()
		check(poll(lambda: env.notify.log_has(r"to port %d: open after" % srv.port, timeout=0.1), timeout=10),
		      "the session did not open\n" + env.notify.stderr_tail())
		# Let the pipeline fill up while the port reads nothing.
		time.sleep(2)
		grown = rss_kib(env.notify.proc.pid) - before
		check(feeder.is_alive(), "all 48 MiB were taken while the port read nothing")
		check(grown < 16 * 1024, "arcnotify grew by %d KiB while the port read nothing" % grown)
		gate.set()
		out, err = p.communicate(timeout=60)
		check(p.returncode == 0 and out == hashlib.sha256(data).hexdigest().encode() + b"\n",
		      "after the stall: exit %d, %r %r" % (p.returncode, out[:80], err[-300:]))
	finally:
		gate.set()
		azcm(env, "config", "set", "incomingconnections.ports", str(env.sshd.port))
		srv.close()


class Trap:
	"""A listener on a port that must never be connected to."""

	def __init__(self):
		self.sock = socket.socket()
		self.sock.bind(("127.0.0.1", 0))
		self.sock.listen(8)
		self.sock.setblocking(False)
		self.port = self.sock.getsockname()[1]

	def touched(self):
		try:
			c, _ = self.sock.accept()
			c.close()
			return True
		except BlockingIOError:
			return False

	def close(self):
		self.sock.close()


def refused(env, port, regex, what):
	before = env.notify.count(r"refused: ")
	rc, out, err = remote(env, port)
	check(rc != 0, "%s: cloudsim remote exited 0" % what)
	check(out == b"", "%s: cloudsim remote wrote %r on stdout" % (what, out[:100]))
	check(re.search(regex, err), "%s: the operator sees %r, not /%s/" % (what, err.strip(), regex))
	check(poll(lambda: env.notify.count(r"refused: ") > before), "%s: no refusal in arcnotify's log" % what)
	check(re.search(r"refused: .*" + regex, env.notify.stderr_text()),
	      "%s: arcnotify's log lacks the reason" % what)
	check(re.search(r"refused by the machine: .*" + regex, env.sim.stderr_text()),
	      "%s: cloudsim's log lacks the refusal" % what)


@test(timeout=60)
def refused_when_disabled(env):
	trap = Trap()
	try:
		azcm(env, "config", "set", "incomingconnections.ports", "%d,%d" % (env.sshd.port, trap.port))
		azcm(env, "config", "set", "incomingconnections.enabled", "false")
		refused(env, trap.port, r"incomingconnections\.enabled = false", "enabled=false")
		check(not trap.touched(), "something connected to the port while disabled")
	finally:
		azcm(env, "config", "set", "incomingconnections.enabled", "true")
		azcm(env, "config", "set", "incomingconnections.ports", str(env.sshd.port))
		trap.close()


@test(timeout=60)
def refused_port_not_listed(env):
	trap = Trap()
	try:
		refused(env, trap.port, r"port %d is not in incomingconnections\.ports" % trap.port,
			"port not listed")
		check(not trap.touched(), "something connected to a port not on the list")
	finally:
		trap.close()


@test(timeout=60)
def refused_in_monitor_mode(env):
	try:
		azcm(env, "config", "set", "config.mode", "monitor")
		refused(env, env.sshd.port, r"monitor mode", "monitor mode")
	finally:
		azcm(env, "config", "set", "config.mode", "full")


@test(timeout=60)
def disabling_ends_a_live_session(env):
	# cat ends with the connection: nothing is left running on the server.
	p = ssh(env, "echo", "ready;", "cat", popen=True, stdin_pipe=True)
	try:
		line = p.stdout.readline()
		check(line == b"ready\n", "the session did not start: %r %s" % (line, env.notify.stderr_tail()))
		t0 = time.monotonic()
		azcm(env, "config", "set", "incomingconnections.enabled", "false")
		ended = poll(lambda: p.poll() is not None, timeout=1.0, interval=0.02)
		took = time.monotonic() - t0
		check(ended, "ssh still runs %.2f s after incomingconnections.enabled = false" % took)
		check(env.notify.log_has(r"ended: ended by the local controls: incoming connections are disabled"),
		      "no end line in arcnotify's log\n" + env.notify.stderr_tail())
		refused(env, env.sshd.port, r"incomingconnections\.enabled = false", "after disabling")
	finally:
		if p.poll() is None:
			p.kill()
		p.wait(5)
		azcm(env, "config", "set", "incomingconnections.enabled", "true")


@test(timeout=60)
def local_controls_apply_while_notify_conf_is_broken(env):
	"""agent.conf's local controls take effect at SIGHUP even when arcnotify's own notify.conf is
	refused then: the whole reload was refused, so incomingconnections.enabled = false left every
	session allowed until someone fixed an unrelated file."""
	path = os.path.join(env.notify.conf_dir, "notify.conf")
	with open(path) as f:
		good = f.read()
	try:
		with open(path, "a") as f:
			f.write("bogus = 1;\n")
		azcm(env, "config", "set", "incomingconnections.enabled", "false")
		check(poll(lambda: env.notify.log_has(r"notify\.conf:\d+: unknown key 'bogus'")),
		      "arcnotify did not refuse the broken notify.conf\n" + env.notify.stderr_tail())
		refused(env, env.sshd.port, r"incomingconnections\.enabled = false",
			"enabled=false with notify.conf broken")
	finally:
		with open(path, "w") as f:
			f.write(good)
		azcm(env, "config", "set", "incomingconnections.enabled", "true")
	check(poll(lambda: env.notify.log_has(r"configuration reloaded")), "no reload after the fix")


@test(timeout=60)
def pings_keep_the_channel_and_find_a_dead_path(env):
	"""ping_interval_ms 1000, dead_after_ms 3000 on both sides (fx_remote)."""
	downs = env.notify.count(r"notification channel down")
	opened = len(re.findall(r"channel %s open from" % MACHINE, env.sim.stderr_text()))
	# Idle for longer than dead_after_ms: only the pings, sent and answered, keep it up.
	time.sleep(3.5)
	check(env.notify.count(r"notification channel down") == downs,
	      "an idle channel went down\n" + env.notify.stderr_tail())
	check(not re.search(r"channel %s: nothing heard" % MACHINE, env.sim.stderr_text()),
	      "cloudsim heard nothing from an idle channel")
	# The gateway freezes: nothing comes back, the agentlet notices and says why.
	os.kill(env.sim.proc.pid, fixtures.signal.SIGSTOP)
	t0 = time.monotonic()
	try:
		dead = poll(lambda: env.notify.count(r"nothing heard for [\d.]+ s \(pings unanswered\): the "
						     r"path is dead") > 0, timeout=8, interval=0.1)
		took = time.monotonic() - t0
	finally:
		os.kill(env.sim.proc.pid, fixtures.signal.SIGCONT)
	check(dead, "a frozen gateway went unnoticed\n" + env.notify.stderr_tail())
	# Quiet counts from the last frame read (a pong up to ping_interval_ms before the freeze).
	check(1.0 <= took <= 5.0, "the dead path was noticed after %.1f s (dead_after_ms 3000)" % took)
	check(channel_up(env, opened + 1, timeout=15), "the channel did not come back\n" + env.notify.stderr_tail())


@test(timeout=90)
def channel_survives_a_gateway_restart(env):
	opened = len(re.findall(r"channel %s open from" % MACHINE, env.sim.stderr_text()))
	env.sim.stop()
	check(poll(lambda: env.notify.log_has(r"notification channel down", timeout=0.1), timeout=5),
	      "arcnotify did not notice the gateway going away\n" + env.notify.stderr_tail())
	env.sim.start()
	check(channel_up(env, opened + 1, timeout=15),
	      "the channel did not come back after the restart\n%s" % env.notify.stderr_tail())
	r = ssh(env, "echo", "after-restart")
	check(r.returncode == 0 and r.stdout == b"after-restart\n", "ssh after the restart: exit %d %r %s"
	      % (r.returncode, r.stdout, r.stderr.decode(errors="replace")))


@test(timeout=30)
def bad_notify_conf_names_file_and_line(env):
	d = fixtures.tempfile.mkdtemp(prefix="notify-conf-", dir=fixtures.harness.tmp_root())
	for text, regex in (('ping_interval_ms = 5000;\ndead_after_ms = 1000;\n',
			     r"notify\.conf:2: dead_after_ms \(1000\) must be more than ping_interval_ms"),
			    ('proxy = "http://proxy.example:3128";\n', r"notify\.conf:1: proxy: .*not like"),
			    ('bogus = 1;\n', r"notify\.conf:1: unknown key 'bogus'")):
		with open(os.path.join(d, "notify.conf"), "w") as f:
			f.write(text)
		r = fixtures.subprocess.run([str(fx_remote.ARCNOTIFY), "-n", "--config-dir", d], capture_output=True,
					    text=True, timeout=10)
		lines = r.stderr.strip().splitlines()
		check(r.returncode != 0 and len(lines) == 1 and re.search(regex, lines[0]),
		      "arcnotify -n on %r: exit %d, %r" % (text, r.returncode, r.stderr))
	os.unlink(os.path.join(d, "notify.conf"))
	r = fixtures.subprocess.run([str(fx_remote.ARCNOTIFY), "-n", "--config-dir", d], capture_output=True,
				    text=True, timeout=10)
	check(r.returncode == 0 and "the defaults" in r.stdout, "arcnotify -n without a file: %r" % r.stdout)
	os.rmdir(d)


@test(timeout=30)
def operator_api_refusals(env):
	for path, body, want in (("/operator/machines/nope/sessions", {"port": 22}, 404),
				 ("/operator/machines/%s/sessions" % MACHINE, {"port": 0}, 400),
				 ("/operator/machines/%s/sessions" % MACHINE, {"prt": 22}, 400),
				 ("/operator/machines/%s/goalState" % MACHINE, {"topic": "../x", "seq": 1}, 400),
				 ("/operator/machines/nope/goalState", {"topic": "extensions", "seq": 1}, 404)):
		status, answer = env.sim.operator("POST", path, body)
		check(status == want and "error" in (answer or {}), "POST %s %r: %d %r" % (path, body, status, answer))
	r = fixtures.subprocess.run([str(fixtures.CLOUDSIM), "remote", "nope", "22", "--operator",
				     env.sim.operator_url()], capture_output=True, text=True, timeout=20)
	check(r.returncode == 1 and "no machine named nope" in r.stderr and r.stdout == "",
	      "cloudsim remote to no machine: exit %d, %r" % (r.returncode, r.stderr))


@test(timeout=60)
def deleted_machine_loses_its_channel(env):
	"""Last: the machine is gone from the cloud afterwards."""
	status, _ = env.sim.operator("DELETE", "/operator/machines/%s" % MACHINE)
	check(status == 200, "DELETE: %d" % status)
	env.sim.stop()
	env.sim.start()
	# Its certificate is revoked: the gateway refuses it before the service can.
	check(env.notify.log_has(r"notification channel not up: notify\.cloudsim\.test:443: arcproxy refused "
				 r"CONNECT: 403 .*machine certificate required", timeout=10),
	      "a deleted machine's channel was not refused\n" + env.notify.stderr_tail())
	status, answer = env.sim.operator("POST", "/operator/machines/%s/sessions" % MACHINE, {"port": 22})
	check(status == 404, "a session to a deleted machine: %d %r" % (status, answer))
