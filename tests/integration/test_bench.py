"""arcbench: short runs against a real arcproxy and benchorigin, in every mode.

Expectations:
- In each mode (http, http --tls, http at a fixed rate, tunnel down/up/both, setup, idle)
  arcbench finishes the operations asked for through arcproxy, verifies every one, reports
  them in its JSON and exits 0; --direct does the same work without the proxy.
- Idle mode with --pid reads the proxy's RSS and reports the growth per tunnel.
- Gateway mode (--gateway), as make bench uses it: arcbench speaks TLS with a machine certificate
  straight to cloudsim's gateway (the gateway logs that identity) and resumes sessions; a wrong
  --servername is a TLS error, not a fast result; with --drain every tunnel under way when the
  window closes finishes (the gateway logs each one whole); arcbench through arcproxy in
  gateway mode (h2) verifies its tunnels too, and --pid samples every process on the path.
- Verification is real: a proxy that answers with wrong bytes or a wrong length, or refuses
  the CONNECT, is reported by kind of error with exit status 1, not as fast.
- --stall N: the first N tunnels stop reading; the others finish theirs and the report gives
  each slot's rate and Jain's fairness index over the slots that read.
- A wrong proxy port and bad arguments give a one-line reason and exit status 2.
- The bench's floors (splicerelay): as a CONNECT relay it carries verified tunnels both ways;
  with -f it is a bare forwarder to the origin's http port that arcbench --direct reaches as if
  it were the origin (small and 1 MiB GETs verified, on kept-alive connections), and it closes
  both sockets of a pair once the client leaves; a bad -f address exits 2 naming -f.
"""

import json
import os
import re
import socket
import subprocess
import threading
import types

import harness
import test_cloudsim as tcs
from harness import Proxy, check, direct, free_port, test

ARCBENCH = harness.BIN_DIR / "arcbench"
BENCHORIGIN = harness.BIN_DIR / "benchorigin"
SPLICERELAY = harness.BIN_DIR / "splicerelay"


class Env:
	"""The module's proxy, benchorigin and the fake proxies a test starts."""

	def __init__(self, proxy, origin_proc, ports):
		self.proxy = proxy
		self.extra = []
		self.bench_origin = origin_proc
		self.http = "127.0.0.1:%s" % ports["http"]
		self.tls = "127.0.0.1:%s" % ports["tls"]
		self.tcp = "127.0.0.1:%s" % ports["tcp"]
		self.fakes = []


def setup():
	for exe in (ARCBENCH, BENCHORIGIN):
		if not exe.exists():
			raise AssertionError("%s not found (make all, or set ARC_BIN)" % exe)
	p = subprocess.Popen([str(BENCHORIGIN), "--http", "0", "--tls", "0", "--tcp", "0"],
			     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
	line = p.stdout.readline().decode()
	ports = dict(kv.split("=") for kv in line.split()[1:])
	if "tcp" not in ports:
		p.kill()
		raise AssertionError("benchorigin did not start: %r" % line)
	# Rules naming 127.0.0.1 and each port: only such rules lift the SSRF guard.
	try:
		proxy = Proxy(routes=[direct("127.0.0.1:%s" % ports[k]) for k in ("http", "tls", "tcp")],
			      name="bench").start()
	except BaseException:
		p.kill()	# a failed setup stops what it started (issue 9)
		p.wait(5)
		raise
	return Env(proxy, p, ports)


def teardown(env):
	for f in env.fakes:
		f.close()
	harness.terminate(env.bench_origin, 5)
	return harness.stop_env(env)


def arcbench(*args, timeout=15):
	"""Runs arcbench; returns (exit status, JSON or None, stderr)."""
	p = subprocess.run([str(ARCBENCH), *args], capture_output=True, text=True, timeout=timeout)
	try:
		res = json.loads(p.stdout) if "--json" in args else None
	except ValueError:
		res = None
	return p.returncode, res, p.stderr


def via(env, *args):
	return arcbench("--json", "--proxy", "127.0.0.1:%d" % env.proxy.port, *args)


def verified(rc, res, err, ops, what):
	check(rc == 0, "%s: exit %d, stderr %r, errors %r" % (what, rc, err.strip(),
							       res and res.get("errors")))
	check(res is not None, "%s: no JSON on stdout" % what)
	check(res["ok"] and res["errors"]["total"] == 0, "%s: errors %r" % (what, res["errors"]))
	check(res["ops"] == ops, "%s: %d operations verified, expected %d" % (what, res["ops"], ops))


@test
def http_keepalive_verified(env):
	rc, res, err = via(env, "--mode", "http", "--target", env.http, "-s", "1000", "-c", "4", "-n", "200")
	verified(rc, res, err, 200, "http")
	check(res["mb_down_per_s"] > 0 and res["latency_ms"]["count"] == 200,
	      "http: no throughput or latency reported: %r" % res)
	check(res["connects"] <= 8, "http: %d connections for 4 keep-alive slots" % res["connects"])
	logged = harness.poll(lambda: len([ln for ln in env.proxy.access_log_lines()
					   if "/bytes/1000 " in ln]) >= 200, timeout=5)
	check(logged, "the proxy logged fewer than the 200 requests")


@test
def http_large_and_direct(env):
	rc, res, err = via(env, "--mode", "http", "--target", env.http, "-s", "1M", "-c", "2", "-n", "10")
	verified(rc, res, err, 10, "http 1 MiB")
	rc, res, err = arcbench("--json", "--direct", "--target", env.http, "-s", "1M", "-n", "10")
	verified(rc, res, err, 10, "direct http 1 MiB")
	check(res["direct"] and res["proxy"] is None, "direct run reports a proxy: %r" % res)


@test
def https_inside_connect(env):
	rc, res, err = via(env, "--mode", "http", "--tls", "--target", env.tls, "-s", "64k", "-c", "2",
			   "-n", "20")
	verified(rc, res, err, 20, "https through CONNECT")
	rc, res, err = arcbench("--json", "--direct", "--tls", "--target", env.tls, "-s", "64k", "-n", "5")
	verified(rc, res, err, 5, "direct https")


@test
def http_fixed_rate(env):
	# 200/s for 1 s: a rate that a sanitizer build keeps up with on a busy machine (400/s for
	# 0.5 s, the same count, fell short there: 145).
	rc, res, err = via(env, "--mode", "http", "--target", env.http, "-c", "4", "-R", "200", "-d", "1")
	check(rc == 0 and res and res["ok"], "fixed rate: exit %d %r %s" % (rc, res, err))
	# 200 due in the window, give or take the edges.
	check(180 <= res["ops"] <= 210, "fixed rate 200/s for 1 s: %d requests" % res["ops"])
	check(res["latency_ms"]["p99"] < 500, "fixed rate: p99 %r ms" % res["latency_ms"]["p99"])


@test
def tunnel_each_direction(env):
	for direction in ("down", "up", "both"):
		rc, res, err = via(env, "--mode", "tunnel", "--direction", direction, "--target", env.tcp,
				   "-s", "2M", "-c", "2", "-n", "4")
		verified(rc, res, err, 4, "tunnel " + direction)
		down, up = res["mb_down_per_s"], res["mb_up_per_s"]
		check((down > 0) == (direction != "up") and (up > 0) == (direction != "down"),
		      "tunnel %s: %.1f MB/s down, %.1f MB/s up" % (direction, down, up))


@test
def tunnel_fairness_and_stall(env):
	# --stall 1: slot 0 stops reading once its tunnel is open; the others go on, each slot's
	# rate is reported (null for the stalled one) with Jain's index over the others.
	rc, res, err = via(env, "--mode", "tunnel", "--direction", "down", "--target", env.tcp,
			   "-s", "4M", "-c", "4", "-d", "1", "--stall", "1", "--drain")
	check(rc == 0 and res and res["ok"] and res["errors"]["total"] == 0,
	      "--stall: exit %d, errors %r, stderr %r" % (rc, res and res["errors"], err.strip()))
	per = res["per_connection_mb_per_s"]
	check(len(per) == 4 and per[0] is None and all(x and x > 0 for x in per[1:]),
	      "--stall 1: per-slot rates %r (the first stalled, the others moving)" % per)
	check(res["stalled"] == 1 and 0.5 <= res["jain"] <= 1.0 and res["ops"] > 0,
	      "--stall 1: Jain's index %r over %r, %d ops" % (res["jain"], per, res["ops"]))


@test
def setup_rate(env):
	rc, res, err = via(env, "--mode", "setup", "--target", env.tcp, "-c", "4", "-n", "100")
	verified(rc, res, err, 100, "setup")
	check(res["connects"] == 100, "setup: %d connections for 100 tunnels" % res["connects"])
	rc, res, err = arcbench("--json", "--direct", "--mode", "setup", "--target", env.tcp, "-n", "20")
	verified(rc, res, err, 20, "direct setup")


@test
def idle_tunnels_and_rss(env):
	rc, res, err = via(env, "--mode", "idle", "--target", env.tcp, "-c", "100", "--hold", "0.2",
			   "--pid", str(env.proxy.pid))
	check(rc == 0 and res and res["held"] == 100,
	      "idle: exit %d, held %r, stderr %r" % (rc, res and res.get("held"), err.strip()))
	pp = res.get("proxy_process") or {}
	check(pp.get("pid") == env.proxy.pid and pp["held"]["rss_kib"] > 0 and
	      "rss_kib_per_tunnel" in pp, "idle: no RSS sample of the proxy: %r" % pp)


class BenchSim(tcs.Sim):
	"""cloudsim with benchorigin's raw TCP port as origin.cloudsim.test, as make bench has it."""

	def __init__(self, tcp):
		super().__init__()
		self.tcp = tcp

	def settings(self):
		s = super().settings()
		s["gateway"]["endpoints"] = ["origin.cloudsim.test"]
		s["hosts"].append({"name": "origin.cloudsim.test", "target": self.tcp})
		return s


@test
def gateway_mode(env):
	sim = BenchSim(env.tcp)
	gw = types.SimpleNamespace(sim=sim, proxies=[], sims=[])
	try:
		for args in (("pki", sim.pki), ("machine-cert", sim.pki, "bench")):
			r = sim.run(*args)
			check(r.returncode == 0, "cloudsim %s: %s" % (args[0], r.stderr.strip()))
		sim.write_config()
		sim.start()
		target = "origin.cloudsim.test:" + env.tcp.rsplit(":", 1)[1]
		tls = ["--gateway", "--proxy", "127.0.0.1:%d" % sim.gw_port, "--cert", sim.file("bench.crt"),
		       "--key", sim.file("bench.key"), "--ca", sim.file("ca.crt")]
		rc, res, err = arcbench("--json", *tls, "--servername", "gw.cloudsim.test", "--mode", "tunnel",
					"--direction", "both", "--target", target, "-s", "256k", "-c", "2", "-n", "4",
					"--pid", str(sim.proc.pid))
		verified(rc, res, err, 4, "tunnels straight to the gateway")
		check(res["gateway"] and res["tls_handshakes"] == 4 and res["connects"] == 4,
		      "a TLS connection per tunnel: %r handshakes, %r connects" % (res["tls_handshakes"],
										res["connects"]))
		check([p["pid"] for p in res["processes"]] == [sim.proc.pid], "processes: %r" % res["processes"])
		check(sim.log_has(r"connect %s machine=bench .*status=200" % target.replace(".", r"\.")),
		      "the gateway did not log the machine identity:\n%s" % sim.stderr_tail())
		rc, res, err = arcbench("--json", *tls, "--servername", "gw.cloudsim.test", "--mode", "setup",
					"--target", target, "-c", "2", "-n", "30")
		verified(rc, res, err, 30, "setups straight to the gateway")
		check(res["tls_resumed"] >= 20, "%d of %d handshakes resumed" % (res["tls_resumed"],
										 res["tls_handshakes"]))
		# --drain: a tunnel under way when the window closes finishes; the gateway logs
		# every one as ended cleanly (none cut off, none left open).  A 1 s window:
		# under AddressSanitizer one 8 MiB tunnel takes 0.3 s.
		rc, res, err = arcbench("--json", *tls, "--servername", "gw.cloudsim.test", "--mode", "tunnel",
					"--target", target, "-s", "8M", "-d", "1", "--drain")
		check(rc == 0 and res and res["ops"] > 0, "--drain: exit %d, %r" % (rc, res and res["errors"]))
		ended = lambda: len(re.findall(r"connect %s .*status=200 up=\d+ down=%d " % (
			re.escape(target), (8 << 20) + 3), sim.stderr_text()))
		check(harness.poll(lambda: ended() == res["connects"], timeout=3),
		      "--drain: %d tunnels opened, %d ended whole at the gateway:\n%s"
		      % (res["connects"], ended(), sim.stderr_tail()))
		rc, res, err = arcbench("--json", *tls, "--servername", "wrong.cloudsim.test", "--mode", "setup",
					"--target", target, "-n", "3")
		check(rc == 1 and res and res["ops"] == 0 and res["errors"].get("tls") == 3,
		      "a certificate for another name: exit %d, errors %r" % (rc, res and res["errors"]))
		p = tcs.arcproxy_via(gw, protocol="h2", cert="bench")
		rc, res, err = arcbench("--json", "--proxy", "127.0.0.1:%d" % p.port, "--mode", "setup",
					"--target", target, "-c", "4", "-n", "40", "--pid", str(p.pid),
					"--pid", str(sim.proc.pid))
		verified(rc, res, err, 40, "setups through arcproxy over h2")
		check([x["pid"] for x in res["processes"]] == [p.pid, sim.proc.pid] and
		      res["proxy_process"]["pid"] == p.pid, "processes: %r" % res["processes"])
		m = p.metrics()
		check(harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway") >= 40 and
		      harness.metric_sum(m, "arcproxy_gateway_connections_total") == 1,
		      "arcproxy: %r gateway tunnels on %r connections" % (
			      harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway"),
			      harness.metric_sum(m, "arcproxy_gateway_connections_total")))
	finally:
		problems = tcs.stop_others(gw)
		sim.stop()
		if not problems:
			sim.cleanup()
	check(not problems, "; ".join(problems))


class FakeProxy:
	"""Answers every request on a fresh connection with the given bytes, then closes."""

	def __init__(self, answer):
		self.sock = socket.socket()
		self.sock.bind(("127.0.0.1", 0))
		self.sock.listen(64)
		self.port = self.sock.getsockname()[1]
		self.answer = answer
		threading.Thread(target=self.serve, daemon=True).start()

	def serve(self):
		for _ in range(10000):
			try:
				c, _ = self.sock.accept()
			except OSError:
				return
			try:
				c.settimeout(2)
				buf = b""
				for _ in range(100):
					if b"\r\n\r\n" in buf:
						break
					d = c.recv(4096)
					if not d:
						break
					buf += d
				c.sendall(self.answer)
			except OSError:
				pass
			finally:
				c.close()

	def close(self):
		self.sock.close()


@test
def wrong_bytes_are_errors(env):
	cases = [
		(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"\0" * 100, "content"),
		(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" + b"\0" * 99, "length"),
		(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", "http_status"),
	]
	for answer, kind in cases:
		fake = FakeProxy(answer)
		env.fakes.append(fake)
		rc, res, err = arcbench("--json", "--proxy", "127.0.0.1:%d" % fake.port, "--target", env.http,
					"-s", "100", "-c", "2", "-n", "10")
		check(rc == 1, "%s: a wrong answer gave exit %d, not 1" % (kind, rc))
		check(res and res["ops"] == 0 and res["errors"].get(kind, 0) > 0,
		      "%s: errors reported %r" % (kind, res and res["errors"]))


@test
def refused_connect_is_an_error(env):
	# 127.0.0.2 is loopback that no rule names: the SSRF guard answers 403.
	port = env.tcp.rsplit(":", 1)[1]
	rc, res, err = via(env, "--mode", "tunnel", "--target", "127.0.0.2:" + port, "-s", "1k", "-n", "3")
	check(rc == 1 and res and res["errors"].get("proxy_status") == 3,
	      "refused CONNECT: exit %d, errors %r" % (rc, res and res["errors"]))


@test
def unreachable_proxy_and_bad_arguments(env):
	port = free_port()
	rc, res, err = arcbench("--proxy", "127.0.0.1:%d" % port, "--target", env.http, "-n", "1")
	check(rc == 2, "a proxy port nobody listens on: exit %d" % rc)
	check("cannot connect to the proxy at 127.0.0.1:%d" % port in err and len(err.splitlines()) == 1,
	      "unclear message for an unreachable proxy: %r" % err)
	bad = [
		(["--mode", "bogus", "--direct", "--target", env.http], "--mode"),
		(["--direct", "--target", env.http, "-c", "0"], "--connections"),
		(["--direct", "-n", "1"], "--target"),
		(["--target", env.http, "-n", "1"], "--proxy"),
		(["--direct", "--target", "nocolon", "-n", "1"], "HOST:PORT"),
		(["--direct", "--mode", "tunnel", "--tls", "--target", env.tcp], "--tls"),
		(["--direct", "--target", env.http, "-s", "12q"], "--size"),
		(["--direct", "--target", env.http, "--no-such-flag"], "option"),
		(["--direct", "--gateway", "--target", env.tcp, "-n", "1"], "--gateway"),
		(["--direct", "--drain", "--target", env.http, "-n", "1"], "--drain"),
		(["--direct", "--mode", "tunnel", "--stall", "1", "--target", env.tcp], "--stall"),
		(["--direct", "--stall", "1", "-c", "2", "--target", env.http], "--stall"),
		(["--direct", "--cert", "x.crt", "--key", "x.key", "--target", env.tcp], "--gateway"),
	]
	for args, word in bad:
		rc, res, err = arcbench(*args)
		check(rc == 2, "arcbench %s: exit %d, not 2" % (" ".join(args), rc))
		check(word in err, "arcbench %s: the message %r does not name %s"
		      % (" ".join(args), err.strip(), word))


def start_floor(*args):
	"""splicerelay on a free port: (process, port)."""
	p = subprocess.Popen([str(SPLICERELAY), *args, "0"], stdout=subprocess.PIPE,
			     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
	line = p.stdout.readline().decode()
	m = re.search(r"port=(\d+)", line)
	if not m:
		p.kill()
		p.wait(5)
		raise AssertionError("splicerelay %s did not start: %r" % (" ".join(args), line))
	return p, int(m.group(1))


def open_fds(pid):
	return len(os.listdir("/proc/%d/fd" % pid))


@test
def bench_floors_forward(env):
	relay, rport = start_floor()
	fwd, fport = start_floor("-f", env.http)
	try:
		rc, res, err = arcbench("--json", "--proxy", "127.0.0.1:%d" % rport, "--mode", "tunnel",
					"--target", env.tcp, "-s", "256k", "--direction", "both", "-c", "2",
					"-n", "6")
		verified(rc, res, err, 6, "tunnels through splicerelay")
		idle = open_fds(fwd.pid)
		target = "127.0.0.1:%d" % fport
		rc, res, err = arcbench("--json", "--direct", "--target", target, "-s", "100", "-c", "4",
					"-n", "400")
		verified(rc, res, err, 400, "small GETs through splicerelay -f")
		check(res["connects"] <= 8, "splicerelay -f: %d connections for 4 keep-alive slots"
		      % res["connects"])
		rc, res, err = arcbench("--json", "--direct", "--target", target, "-s", "1M", "-c", "2",
					"-n", "10")
		verified(rc, res, err, 10, "1 MiB GETs through splicerelay -f")
		# The clients are gone: each pair's two sockets close.
		check(harness.poll(lambda: open_fds(fwd.pid) == idle, timeout=5),
		      "splicerelay -f holds %d fds after its clients left, %d before"
		      % (open_fds(fwd.pid), idle))
		check(fwd.poll() is None and relay.poll() is None, "a floor exited under load")
	finally:
		for p in (relay, fwd):
			p.kill()
			p.wait(5)
	p = subprocess.run([str(SPLICERELAY), "-f", "nocolon", "0"], capture_output=True, text=True,
			   timeout=10)
	check(p.returncode == 2 and "-f" in p.stderr, "splicerelay -f nocolon: exit %d, %r"
	      % (p.returncode, p.stderr.strip()))
