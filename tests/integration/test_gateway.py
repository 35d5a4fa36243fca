"""The gateway route: arcproxy -> gateway-client -> cloudsim's gateway (and Squid, as peers).

Expectations:
- Gateway mode (agent.conf connection.type "gateway", default_route unset): CONNECT tunnels to a
  destination on the gateway's endpoint list go through the gateway, with the machine certificate
  presented (the gateway's log names machine=<CN>).  64 MiB down and 64 MiB up through such a tunnel
  hash to the right SHA-256 end to end.  Absolute-form http:// requests to a listed host:80 travel
  inside a CONNECT host:80 to the gateway, bytes intact both ways, on a kept-alive client connection.
- A destination off the list goes to proxy.url when set (a real Squid), is denied (403) when not,
  and goes direct when arcproxy.conf sets default_route = "direct"; the gateway's bypass list goes
  direct (or to proxy.url when set).  The access log's route column and the per-route metrics say so.
  (Every peer here is on loopback, so "direct" ends at the SSRF guard: 403 destination_ip_prohibited,
  which is not the routing's 403 http_request_denied; the route column shows "direct".)
- A wrong CA in agent.conf gives 502 with "certificate verify failed" in Proxy-Status details and in
  arcproxy's log; no machine certificate, or one from another CA, gives 403 with the gateway's reason
  ("machine certificate required") in the details; the anonymous (registration) endpoint still works.
- When the gateway is killed, every request gets 502 within 2 s, /healthz answers 503 with the
  gateway "down", a live tunnel ends, nothing hangs; when it comes back on the same ports, traffic
  recovers by itself (no restart or reload of arcproxy).
- Interop: arcproxy -> Squid (proxy.url) -> cloudsim gateway -> echo, bytes checked, Squid's access
  log shows the CONNECT to the gateway; Squid's https_port as the gateway itself, in front of the
  test origin, carries tunnels and absolute-form requests from arcproxy in gateway mode.
- SIGHUP re-reads the CA file and a machine certificate renewed in place (same paths in agent.conf
  and the state dir): new tunnels verify with the new CA and present the new identity.
- No fd leak in the main arcproxy; no sanitizer report from any arcproxy or cloudsim.
"""

import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import harness
import test_cloudsim as tcs
from harness import (Conn, Proxy, check, curl, fetch, free_port, origin, payload, poll,
		     proxy_status_error, std_routes, test, wait_port)

MIB64 = 64 << 20
ENDPOINTS = ["*.cloudsim.test:443", "plain.cloudsim.test:80"]
BYPASS = ["bypass.cloudsim.test"]
# arcproxy's hosts table: the gateway's name, and names that a direct route would look up
# (all on loopback, so the SSRF guard refuses them on the direct route: no DNS wait).
GW_HOSTS = [{"name": n, "address": "127.0.0.1"} for n in
	    ("gw.cloudsim.test", "bypass.cloudsim.test", "origin.test")]
SQUID = shutil.which("squid") or "/usr/sbin/squid"
REPLY_BOUND_S = 2.0	# a request while the gateway is down is answered within this


def pattern_sha(n):
	"""SHA-256 of what echo's /bytes/N sends (0,1,..,255 repeated), without holding it all."""
	h = hashlib.sha256()
	block = bytes(range(256)) * 4096
	left = n
	for _ in range(n // len(block) + 1):
		if left <= 0:
			break
		h.update(block[:left])
		left -= len(block)
	return h.hexdigest()


# --- peers -------------------------------------------------------------------

class GwSim(tcs.Sim):
	"""cloudsim with plain.cloudsim.test (the origin's plain HTTP port) on its list and a bypass list."""

	def __init__(self, plain_port, pki=None):
		super().__init__()
		self.plain_port = plain_port
		if pki:
			self.pki = pki

	def settings(self):
		s = super().settings()
		s["gateway"]["endpoints"] = ENDPOINTS
		s["gateway"]["bypass"] = BYPASS
		s["hosts"].append({"name": "plain.cloudsim.test", "target": "127.0.0.1:%d" % self.plain_port})
		return s

	def start(self):
		try:
			self.stderr_file.close()	# a restart opens it again
		except AttributeError:
			pass
		return super().start()

	def problems(self):
		out = []
		if self.proc is None:
			return out
		crashed = self.proc.poll()
		if crashed is not None and crashed != -signal.SIGKILL:
			out.append("cloudsim (%s) had exited with status %s" % (self.base, crashed))
		rc = self.stop()
		if crashed is None and rc != 0:
			out.append("cloudsim exited %s on SIGTERM\n%s" % (rc, self.stderr_tail()))
		rep = self.sanitizer_report()
		if rep:
			out.append("cloudsim sanitizer: %s\n%s" % (rep, self.stderr_tail(40)))
		return out


class Squid:
	"""A real Squid on loopback: the enterprise proxy (http_port) or an HTTPS proxy (https_port)."""

	def __init__(self, name, ports, tls=None):
		"""ports: the CONNECT ports its ACL allows; tls: (cert, key) for an https_port."""
		self.dir = tempfile.mkdtemp(prefix="squid-%s-" % name, dir=harness.tmp_root())
		os.chmod(self.dir, 0o755)
		self.port = free_port()
		self.user = None
		if os.geteuid() == 0:
			try:
				self.user = pwd.getpwnam("proxy")	# Debian's cache_effective_user
			except KeyError:
				self.user = pwd.getpwnam("nobody")
			os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
		self.conf = os.path.join(self.dir, "squid.conf")
		self.access_path = os.path.join(self.dir, "access.log")
		self.cache_path = os.path.join(self.dir, "cache.log")
		self.stderr_path = os.path.join(self.dir, "stderr.log")
		hosts = os.path.join(self.dir, "hosts")
		with open(hosts, "w") as f:
			f.write("127.0.0.1 gw.cloudsim.test origin.test bypass.cloudsim.test\n")
		lines = []
		if tls:
			cert, key = (os.path.join(self.dir, n) for n in ("tls.crt", "tls.key"))
			shutil.copy(tls[0], cert)
			shutil.copy(tls[1], key)
			os.chmod(key, 0o600)
			if self.user:
				for p in (cert, key):
					os.chown(p, self.user.pw_uid, self.user.pw_gid)
			lines.append("https_port 127.0.0.1:%d tls-cert=%s tls-key=%s" % (self.port, cert, key))
		else:
			lines.append("http_port 127.0.0.1:%d" % self.port)
		lines += [
			"workers 1",
			"acl tunnel_ports port %s" % " ".join(str(p) for p in ports),
			"http_access allow CONNECT tunnel_ports",
			"http_access deny all",
			"cache deny all",
			"cache_mem 0 MB",
			"hosts_file %s" % hosts,
			"dns_nameservers 127.0.0.1",
			"access_log stdio:%s squid" % self.access_path,
			"cache_log %s" % self.cache_path,
			"cache_store_log none",
			"pid_filename %s/squid.pid" % self.dir,
			"coredump_dir %s" % self.dir,
			"shutdown_lifetime 0 seconds",
			"logfile_rotate 0",
			"pinger_enable off",
			"buffered_logs off",
		]
		with open(self.conf, "w") as f:
			f.write("# generated by tests/integration/test_gateway.py\n" + "\n".join(lines) + "\n")
		os.chmod(self.conf, 0o644)
		self.proc = None

	def start(self):
		if not os.path.exists(SQUID):
			raise harness.Skip("squid is not installed")
		self.stderr_file = open(self.stderr_path, "ab")
		self.proc = subprocess.Popen([SQUID, "-N", "-f", self.conf], stdin=subprocess.DEVNULL,
					     stdout=self.stderr_file, stderr=self.stderr_file)
		if not wait_port(self.port, 10, self.proc):
			rc = self.proc.poll()
			self.stop()
			raise AssertionError("squid did not listen on %d (exit %s)\n%s" % (self.port, rc, self.log_tail()))
		return self

	def stop(self):
		if self.proc is None:
			return
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait(5)
		try:
			self.stderr_file.close()
		except AttributeError:
			pass

	def _read(self, path):
		try:
			with open(path, "rb") as f:
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	def access_log(self):
		return self._read(self.access_path)

	def log_tail(self, n=15):
		lines = (self._read(self.cache_path) + self._read(self.stderr_path)).splitlines()
		return "\n".join(["--- squid logs (%s), last %d lines:" % (self.dir, n)] + lines[-n:])

	def saw(self, regex, timeout=3.0):
		return poll(lambda: re.search(regex, self.access_log(), re.M), timeout=timeout)


# --- arcproxy in gateway mode ---------------------------------------------------

def gw_proxy(env, name, sim=None, cert="m1", cert_pki=None, ca=None, proxy_url=None,
	     default_route=None, gateway_port=None, protocol=None, start=True):
	"""An arcproxy in gateway mode against sim (or gateway_port), registered for teardown.
	protocol: agent.conf gateway.protocol ("http/1.1", "h2"); unset is "auto"."""
	sim = sim or env.sim
	p = Proxy(routes=std_routes(env.origin), hosts=GW_HOSTS, name=name)
	p.settings.pop("default_route")
	if default_route:
		p.settings["default_route"] = default_route
	p.write_config()
	shutil.copy(ca or sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
	os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
	text = ('connection = { type = "gateway"; };\n'
		'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt";%s };\n'
		% (gateway_port or sim.gw_port, ' protocol = "%s";' % protocol if protocol else ""))
	if proxy_url:
		text += 'proxy = { url = "%s"; };\n' % proxy_url
	p.write_agent_conf(text)
	if cert:
		for ext in ("crt", "key"):
			dst = os.path.join(p.identity_dir, "machine." + ext)
			shutil.copy(sim.file(cert + "." + ext, cert_pki), dst)
			os.chmod(dst, 0o600 if ext == "key" else 0o644)
			if p.user:
				os.chown(dst, p.user.pw_uid, p.user.pw_gid)
	env.proxies.append(p)
	if start:
		p.start()
	return p


def stop_proxy(p):
	"""SIGTERM an arcproxy before teardown: it must exit 0 with no sanitizer report."""
	check(p.alive(), "arcproxy %s had exited with status %s" % (p.base, p.proc.returncode))
	rc = p.stop()
	p.stopped = True
	check(rc == 0, "arcproxy %s exited %s on SIGTERM\n%s" % (p.base, rc, p.stderr_tail()))
	rep = p.sanitizer_report()
	check(not rep, "arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))


def log_entries(p, regex, timeout=3.0, count=1):
	"""Access-log lines whose text matches regex, split into fields (polls: the log is buffered)."""
	def get():
		out = []
		for line in p.access_log_lines():
			if re.search(regex, line):
				f = line.split(" ")
				out.append({"line": line, "method": f[2], "target": f[3], "route": f[4],
					    "status": int(f[5]), "up": int(f[6]), "down": int(f[7]),
					    "error": f[9] if len(f) > 9 else ""})
		return out if len(out) >= count else None
	return poll(get, timeout=timeout, interval=0.1) or []


def one_entry(p, regex, what):
	e = log_entries(p, regex)
	check(e, "no access-log line for %s (/%s/) in %s:\n%s" % (what, regex, p.access_log_path(),
								  "\n".join(p.access_log_lines()[-8:])))
	return e[-1]


def details(resp):
	m = re.search(r'details="([^"]*)"', resp.header("proxy-status") or "")
	return m.group(1) if m else ""


def connect(p, authority, timeout=5.0):
	"""CONNECT through arcproxy: (response, seconds it took)."""
	t0 = time.monotonic()
	with Conn(p.port, timeout) as c:
		r = c.connect_tunnel(authority)	# reads the body of a refusal too
	return r, time.monotonic() - t0


def echo_get(p, sim, path="/bytes/1000", host="echo.cloudsim.test", timeout=10):
	"""GET path from echo through a CONNECT tunnel via arcproxy, TLS to echo inside."""
	c = Conn(p.port, timeout)
	try:
		r = c.connect_tunnel("%s:443" % host)
		if r.status != 200:
			return r
		inner = tcs.inner_conn(sim, c, host)
		inner.request("GET", path, [("Connection", "close")], host=host)
		return inner.read_response()
	finally:
		c.close()


def sim_up(env):
	"""The module's cloudsim still runs (else every gateway test would fail with 'refused')."""
	sim = env.sim
	check(sim.alive(), "cloudsim (%s) is not running: exit status %s\n%s"
	      % (sim.base, sim.proc.returncode, sim.stderr_tail(10)))


def curl_echo(p, sim, *args, timeout=60):
	return curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", sim.file("ca.crt"), *args,
		    timeout=timeout)


def metric(p, name, **labels):
	return harness.metric_sum(p.metrics(), name, **labels)


# --- the module's environment -------------------------------------------------------

class Env:
	def __init__(self):
		self.origin = origin()
		self.sim = None
		self.sims = []
		self.proxy = None	# the main arcproxy, gateway.protocol unset (run.py prints its stderr)
		self.h1 = None		# the same with gateway.protocol = "http/1.1": a nested CONNECT per TLS connection
		self.baselines = {}	# arcproxy -> its fd count after the first tunnel, settled
		self.proxies = []
		self.squids = []
		self.squid = None	# the enterprise proxy
		self.other = None	# the other PKI: another CA, and a machine cert it issued


def setup():
	env = Env()
	o = env.origin
	try:
		sim = env.sim = GwSim(o.http_port)
		env.sims.append(sim)
		env.other = os.path.join(sim.base, "other")
		for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1"),
			     ("pki", env.other), ("machine-cert", env.other, "rogue")):
			r = sim.run(*args)
			check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode,
										 r.stderr.strip()))
		sim.write_config()
		sim.start()
		env.proxy = gw_proxy(env, "gateway")
		env.h1 = gw_proxy(env, "gatewayh1", protocol="http/1.1")
		for p in (env.proxy, env.h1):
			# The first tunnel fetches the endpoint list and opens what is opened lazily.
			r = echo_get(p, sim, "/bytes/10")
			check(r.status == 200, "first tunnel through the gateway: %r" % r)
		time.sleep(tcs.HEAD_TIMEOUT_MS / 1000 + 0.5)
		for p in (env.proxy, env.h1):
			env.baselines[p] = settle_fds(p)
	except BaseException:
		teardown(env)
		raise
	return env


def settle_fds(p, timeout=6.0):
	"""The fd count once it stops changing (the gateway drops idle connections after its head timeout)."""
	counts = []
	for _ in range(int(timeout / 0.25)):
		counts.append(p.fd_count())
		if len(counts) >= 4 and len(set(counts[-4:])) == 1:
			break
		time.sleep(0.25)
	return counts[-1]


def teardown(env):
	problems = []
	for p in env.proxies:
		if p.proc is None or getattr(p, "stopped", False):
			continue
		crashed = p.proc.poll()
		if crashed is not None:
			problems.append("arcproxy %s had exited with status %s\n%s" % (p.base, crashed, p.stderr_tail()))
		rc = p.stop()
		if crashed is None and rc not in (0, None):
			problems.append("arcproxy %s exited %s on SIGTERM\n%s" % (p.base, rc, p.stderr_tail()))
		rep = p.sanitizer_report()
		if rep:
			problems.append("arcproxy sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
	for s in env.squids:
		s.stop()
	for sim in env.sims:
		problems += sim.problems()
	if not problems and not harness.KEEP:
		for p in env.proxies:
			p.cleanup()
		for s in env.squids:
			shutil.rmtree(s.dir, ignore_errors=True)
		for sim in env.sims:
			sim.cleanup()
	return problems


def enterprise_squid(env):
	"""The shared enterprise proxy: CONNECT allowed to the gateway and the origin's ports only."""
	if env.squid is None:
		o = env.origin
		sq = Squid("enterprise", [env.sim.gw_port, o.tls_port, o.http_port])
		env.squids.append(sq)
		env.squid = sq.start()
	return env.squid


# --- 1. bytes through the gateway ---------------------------------------------------

def both(env):
	"""The main arcproxy (protocol "auto") and the one held to HTTP/1.1, with a label for messages."""
	return ((env.proxy, "protocol auto"), (env.h1, "protocol http/1.1"))


def check_h1_only(p, what):
	"""An arcproxy with gateway.protocol = "http/1.1" made no h2 connection and no h2 stream."""
	m = p.metrics()
	h2 = harness.metric_sum(m, "arcproxy_gateway_connections", protocol="h2")
	streams = harness.metric_sum(m, "arcproxy_gateway_streams_total")
	total = harness.metric_sum(m, "arcproxy_gateway_connections_total")
	check(h2 == 0 and streams == 0 and total >= 1,
	      "%s with gateway.protocol = \"http/1.1\": %d h2 connections, %d h2 streams, %d connections made"
	      % (what, h2, streams, total))


@test(timeout=50)
def tunnel_download_64mib(env):
	sim_up(env)
	sim = env.sim
	want = pattern_sha(MIB64)
	for p, how in both(env):
		before = metric(p, "arcproxy_tunnels_total", route="gateway")
		out = os.path.join(p.base, "down.bin")
		hdr = os.path.join(p.base, "down.hdr")
		r = curl_echo(p, sim, "-o", out, "-D", hdr, "https://echo.cloudsim.test/bytes/%d" % MIB64)
		check(r.returncode == 0, "curl 64 MiB through the gateway (%s): exit %d: %s"
		      % (how, r.returncode, r.stderr.decode(errors="replace").strip()))
		h = hashlib.sha256()
		with open(out, "rb") as f:
			for _ in range(MIB64 // (1 << 20) + 2):
				d = f.read(1 << 20)
				if not d:
					break
				h.update(d)
		size = os.path.getsize(out)
		os.unlink(out)
		check(size == MIB64, "downloaded %d bytes, not %d (%s)" % (size, MIB64, how))
		check(h.hexdigest() == want, "SHA-256 of the 64 MiB download differs (%s)" % how)
		with open(hdr) as f:
			check(re.search(r"(?im)^x-sha256:\s*%s\s*$" % want, f.read()), "echo's X-Sha256 differs (%s)" % how)
		e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 gateway 200 \d+ \d{8,}", "the 64 MiB tunnel (%s)" % how)
		check(e["down"] >= MIB64, "access log: %d bytes down for 64 MiB (%s)" % (e["down"], how))
		after = poll(lambda: metric(p, "arcproxy_tunnels_total", route="gateway") > before and
			     metric(p, "arcproxy_tunnels_total", route="gateway"), timeout=3)
		check(after, "arcproxy_tunnels_total{route=\"gateway\"} did not grow from %d (%s)" % (before, how))
	check_h1_only(env.h1, "the 64 MiB download")
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 .*status=200 up=\d+ down=\d{8,}"),
	      "the gateway's log has no CONNECT by machine=m1 with the 64 MiB\n" + sim.stderr_tail(8))


@test(timeout=50)
def tunnel_upload_64mib(env):
	sim_up(env)
	sim = env.sim
	path = os.path.join(env.proxy.base, "up.bin")
	data = os.urandom(MIB64)
	with open(path, "wb") as f:
		f.write(data)
	want = hashlib.sha256(data).hexdigest()
	del data
	try:
		for p, how in both(env):
			r = curl_echo(p, sim, "--data-binary", "@" + path, "-H", "Content-Type: application/octet-stream",
				      "-H", "Expect:", "https://echo.cloudsim.test/upload")
			check(r.returncode == 0, "curl upload of 64 MiB through the gateway (%s): exit %d: %s"
			      % (how, r.returncode, r.stderr.decode(errors="replace").strip()))
			doc = json.loads(r.stdout)
			check(doc == {"length": MIB64, "sha256": want}, "echo saw %r, want length %d sha256 %s (%s)"
			      % (doc, MIB64, want, how))
			e = log_entries(p, r"CONNECT echo\.cloudsim\.test:443 gateway 200 \d{8,} ")
			check(e and e[-1]["up"] >= MIB64, "no access-log line with 64 MiB up on the gateway route (%s): %r"
			      % (how, p.access_log_lines()[-3:]))
	finally:
		os.unlink(path)
	check_h1_only(env.h1, "the 64 MiB upload")


@test(timeout=40)
def absolute_form_through_gateway(env):
	sim_up(env)
	sim = env.sim
	n = 8 << 20
	for p, how in both(env):
		tag = "abs%d" % time.monotonic_ns()
		with Conn(p.port, 20) as c:
			# Two requests on one client connection: keep-alive across the gateway route.
			c.request("GET", "http://plain.cloudsim.test/bytes/%d?%s" % (n, tag))
			r = c.read_response()
			check(r.status == 200 and len(r.body) == n and r.body == payload(n),
			      "GET through the gateway (%s): %r (%s)" % (how, r, r.header("proxy-status")))
			body = os.urandom(n)
			c.request("POST", "http://plain.cloudsim.test/echo?%s" % tag,
				  [("Content-Type", "application/octet-stream")], body)
			r = c.read_response("POST")
			check(r.status == 200, "POST through the gateway (%s): %r" % (how, r))
			doc = r.json()
			check(doc["body_length"] == n and doc["body_sha256"] == hashlib.sha256(body).hexdigest(),
			      "the origin got %d bytes with another hash (%s)" % (doc["body_length"], how))
			hosts = [v for k, v in doc["headers"] if k.lower() == "host"]
			check(hosts == ["plain.cloudsim.test"], "Host reached the origin as %r (%s)" % (hosts, how))
			check(doc["path"].startswith("/echo"), "the origin saw path %r (origin-form expected)" % doc["path"])
		es = log_entries(p, r" http://plain\.cloudsim\.test/\S*%s " % tag, count=2)
		check(len(es) == 2, "access-log lines for the two requests (%s): %r" % (how, es))
		for e in es:
			check(e["route"] == "gateway" and e["status"] == 200, "access-log line: %s" % e["line"])
		check(es[0]["down"] > n and es[1]["up"] > n, "access-log byte counts: %r" % [e["line"] for e in es])
	check_h1_only(env.h1, "absolute-form requests")
	check(sim.log_has(r"connect plain\.cloudsim\.test:80 machine=m1 client=\S+ target=127\.0\.0\.1:%d status=200"
			  % env.origin.http_port, timeout=8),	# logged when the pooled upstream closes
	      "the gateway's log has no CONNECT plain.cloudsim.test:80 by machine=m1\n" + sim.stderr_tail(8))


@test(timeout=50)
def absolute_form_64mib_both_ways(env):
	sim_up(env)
	body = os.urandom(MIB64)
	want = hashlib.sha256(body).hexdigest()
	for p, how in both(env):
		tag = "big%d" % time.monotonic_ns()
		r = fetch(p.port, "GET", "http://plain.cloudsim.test/bytes/%d?%s" % (MIB64, tag), timeout=30)
		check(r.status == 200 and len(r.body) == MIB64, "GET 64 MiB via the gateway (%s): %r" % (how, r))
		check(hashlib.sha256(r.body).hexdigest() == harness.sha(MIB64),
		      "SHA-256 of the 64 MiB GET differs (%s)" % how)
		del r
		r = fetch(p.port, "PUT", "http://plain.cloudsim.test/echo?%s" % tag, body=body, timeout=30)
		check(r.status == 200, "PUT 64 MiB via the gateway (%s): %r" % (how, r))
		doc = r.json()
		check(doc["body_length"] == MIB64 and doc["body_sha256"] == want,
		      "the origin got %d bytes with another hash (%s)" % (doc["body_length"], how))
		es = log_entries(p, r" http://plain\.cloudsim\.test/\S*%s gateway 200 " % tag, count=2)
		check(len(es) == 2, "access-log lines of the 64 MiB requests (%s): %r" % (how, p.access_log_lines()[-3:]))


# --- 2. routing ----------------------------------------------------------------------

@test
def off_list_denied_without_proxy(env):
	sim_up(env)
	p, o = env.proxy, env.origin
	before = metric(p, "arcproxy_errors_total", kind="route_denied")
	for target in ("origin.test:%d" % o.tls_port, "echo.cloudsim.test:8443"):
		r, _ = connect(p, target)
		check(r.status == 403 and proxy_status_error(r) == "http_request_denied",
		      "CONNECT %s (off the list, no proxy.url): %r %s" % (target, r, r.header("proxy-status")))
		e = one_entry(p, r"CONNECT %s " % re.escape(target), target)
		check(e["route"] == "deny" and e["status"] == 403, "access log: %s" % e["line"])
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/10" % o.http_port)
	check(r.status == 403, "absolute-form GET off the list: %r" % r)
	check(metric(p, "arcproxy_errors_total", kind="route_denied") >= before + 3,
	      "arcproxy_errors_total{kind=\"route_denied\"} did not count the refusals")


@test
def bypass_goes_direct(env):
	sim_up(env)
	p = env.proxy
	before = metric(p, "arcproxy_tunnels_total", route="gateway")
	# A name on the bypass list never goes to the gateway, even where "*.cloudsim.test:443" on
	# the endpoint list matches it.  Direct to it means loopback here, which the SSRF guard
	# refuses (403 destination_ip_prohibited, not the route's http_request_denied).
	r, _ = connect(p, "bypass.cloudsim.test:443")
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "CONNECT bypass.cloudsim.test:443: %r %s" % (r, r.header("proxy-status")))
	e = one_entry(p, r"CONNECT bypass\.cloudsim\.test:443 ", "the bypassed CONNECT")
	check(e["route"] == "direct", "bypass list: route %r, want direct: %s" % (e["route"], e["line"]))
	check(not re.search(r"connect bypass\.cloudsim\.test", env.sim.stderr_text()),
	      "a bypassed destination reached the gateway")
	check(metric(p, "arcproxy_tunnels_total", route="gateway") == before,
	      "a bypassed tunnel counted on the gateway route")


@test(timeout=40)
def default_route_direct(env):
	sim_up(env)
	o = env.origin
	p = gw_proxy(env, "gwdirect", default_route="direct")
	# Until the list is fetched every destination goes to the gateway: wait for it.
	check(poll(lambda: healthz(p)[1]["gateway"]["endpoints"] > 0, timeout=5),
	      "no endpoint list after 5 s: %r" % (healthz(p),))
	# Off the list, default_route = "direct": the direct route, where the SSRF guard (not the
	# routing) refuses origin.test, which this arcproxy's hosts table puts on loopback.
	r, _ = connect(p, "origin.test:%d" % o.tls_port)
	check(r.status == 403 and proxy_status_error(r) == "destination_ip_prohibited",
	      "off-list CONNECT with default_route = direct: %r %s" % (r, r.header("proxy-status")))
	e = one_entry(p, r"CONNECT origin\.test:%d " % o.tls_port, "the off-list CONNECT")
	check(e["route"] == "direct", "default_route = direct: route %r: %s" % (e["route"], e["line"]))
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/10" % o.http_port)
	e = one_entry(p, r"GET http://origin\.test:%d/bytes/10 " % o.http_port, "the off-list GET")
	check(e["route"] == "direct" and r.status == 403, "off-list GET: %r, %s" % (r, e["line"]))
	# The gateway's list still wins over the default.
	r = echo_get(p, env.sim, "/bytes/1000")
	check(r.status == 200 and r.body == tcs.pattern(1000), "listed destination with default_route set: %r" % r)
	e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 ", "the listed CONNECT")
	check(e["route"] == "gateway", "listed destination: route %r" % e["route"])
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway") >= 1,
	      "arcproxy_tunnels_total{route=\"gateway\"} is 0 after a gateway tunnel")


@test(timeout=40)
def squid_enterprise_proxy(env):
	"""arcproxy -> Squid -> cloudsim gateway for listed names; off-list and bypass -> Squid -> origin."""
	sim_up(env)
	o, sim = env.origin, env.sim
	sq = enterprise_squid(env)
	p = gw_proxy(env, "gwsquid", proxy_url="http://127.0.0.1:%d" % sq.port)
	n = 16 << 20
	r = curl_echo(p, sim, "-o", "-", "https://echo.cloudsim.test/bytes/%d" % n, timeout=30)
	check(r.returncode == 0, "curl via arcproxy -> squid -> gateway: exit %d: %s\n%s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip(), sq.log_tail()))
	check(len(r.stdout) == n and hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n),
	      "%d bytes through squid and the gateway, hash differs" % len(r.stdout))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m1 "), "the gateway saw no machine=m1")
	e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 ", "the tunnel via squid")
	check(e["route"] == "gateway" and e["status"] == 200 and e["down"] >= n, "access log: %s" % e["line"])
	# Off the gateway's list: to proxy.url, which Squid carries to the origin.
	r = curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", o.ca,
		 "https://origin.test:%d/bytes/300000" % o.tls_port, timeout=20)
	check(r.returncode == 0 and r.stdout == payload(300000), "off-list tunnel via squid: exit %d %s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip()))
	e = one_entry(p, r"CONNECT origin\.test:%d " % o.tls_port, "the off-list tunnel")
	check(e["route"] == "proxy" and e["status"] == 200, "off-list with proxy.url: %s" % e["line"])
	check(sq.saw(r"\bCONNECT origin\.test:%d\b" % o.tls_port), "squid did not log CONNECT origin.test")
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/5000" % o.http_port)
	check(r.status == 200 and r.body == payload(5000), "off-list GET via squid: %r" % r)
	e = one_entry(p, r"GET http://origin\.test:%d/bytes/5000 " % o.http_port, "the off-list GET")
	check(e["route"] == "proxy", "off-list GET with proxy.url: %s" % e["line"])
	# The bypass list with proxy.url set: to the proxy, not direct.
	r, _ = connect(p, "bypass.cloudsim.test:%d" % o.tls_port)
	check(r.status == 200, "CONNECT bypass.cloudsim.test via squid: %r %s" % (r, r.header("proxy-status")))
	e = one_entry(p, r"CONNECT bypass\.cloudsim\.test:%d " % o.tls_port, "the bypassed tunnel")
	check(e["route"] == "proxy", "bypass with proxy.url: %s" % e["line"])
	# Squid's ACL refusing a port is a 502 from arcproxy with Squid's answer, not a hang.
	r, dt = connect(p, "origin.test:%d" % o.echo_port)
	check(r.status == 502 and proxy_status_error(r) == "connection_refused" and "403" in details(r),
	      "squid refusing CONNECT: %r %s" % (r, r.header("proxy-status")))
	check(dt < REPLY_BOUND_S, "squid's refusal took %.1fs to reach the client" % dt)
	m = p.metrics()
	check(harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway") >= 1 and
	      harness.metric_sum(m, "arcproxy_tunnels_total", route="proxy") >= 2,
	      "tunnels by route: gateway %d, proxy %d" % (harness.metric_sum(m, "arcproxy_tunnels_total", route="gateway"),
							  harness.metric_sum(m, "arcproxy_tunnels_total", route="proxy")))
	status, _, body = p.admin_get("/healthz")
	doc = json.loads(body)
	check(status == 200 and doc["gateway"]["state"] == "up" and doc["proxy"], "/healthz: %d %s" % (status, body))
	# Squid logs a CONNECT when it ends, and arcproxy keeps its gateway connection(s) open
	# (warm, or one h2 connection): stop arcproxy, then read Squid's log.
	stop_proxy(p)
	check(sq.saw(r"\bCONNECT gw\.cloudsim\.test:%d\b" % sim.gw_port),
	      "squid's access log shows no CONNECT to the gateway:\n%s" % sq.access_log()[-600:])


# --- 3. failures ----------------------------------------------------------------------

PROTOCOLS = ((None, "protocol auto"), ("http/1.1", "protocol http/1.1"))


@test
def wrong_ca_is_502_certificate_verify_failed(env):
	sim_up(env)
	for proto, how in PROTOCOLS:
		p = gw_proxy(env, "gwwrongca", ca=os.path.join(env.other, "ca.crt"), protocol=proto)
		for i in range(2):	# the first waits for the handshake, the next fails fast while backing off
			r, dt = connect(p, "echo.cloudsim.test:443")
			check(r.status == 502, "CONNECT #%d with the wrong CA (%s): %r" % (i + 1, how, r))
			check(proxy_status_error(r) == "destination_unavailable" and
			      "certificate verify failed" in details(r),
			      "Proxy-Status %r lacks 'certificate verify failed' (%s)" % (r.header("proxy-status"), how))
			check(dt < REPLY_BOUND_S, "CONNECT #%d with the wrong CA took %.1fs (%s)" % (i + 1, dt, how))
		check(poll(lambda: re.search(r"gateway gw\.cloudsim\.test:\d+: certificate verify failed",
					     p.stderr_text())),
		      "arcproxy's log does not say certificate verify failed (%s):\n%s" % (how, p.stderr_tail(8)))
		status, _, body = p.admin_get("/healthz")
		check(status == 503 and "certificate verify failed" in body, "/healthz with the wrong CA (%s): %d %s"
		      % (how, status, body))


@test
def no_machine_certificate_is_403(env):
	sim_up(env)
	for proto, how in PROTOCOLS:
		p = gw_proxy(env, "gwnocert", cert=None, protocol=proto)
		r, _ = connect(p, "echo.cloudsim.test:443")
		check(r.status == 403 and proxy_status_error(r) == "http_request_denied",
		      "CONNECT without a machine certificate (%s): %r %s" % (how, r, r.header("proxy-status")))
		check("machine certificate required" in details(r),
		      "Proxy-Status details %r lack the gateway's reason (%s)" % (r.header("proxy-status"), how))
		e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 ", "the refused CONNECT")
		check(e["route"] == "gateway" and e["status"] == 403, "access log (%s): %s" % (how, e["line"]))
		# Registration (the anonymous endpoint) works without an identity.
		r = echo_get(p, env.sim, "/bytes/100", host="management.cloudsim.test")
		check(r.status == 200 and r.body == tcs.pattern(100),
		      "anonymous endpoint without a certificate (%s): %r" % (how, r))
	check(env.sim.log_has(r"connect echo\.cloudsim\.test:443 machine=- .*status=403 .*"
			      r"machine certificate required.*\(no client certificate\)"),
	      "the gateway's log does not say why it refused\n" + env.sim.stderr_tail(6))
	check(env.sim.log_has(r"connect management\.cloudsim\.test:443 machine=- .*status=200"),
	      "the gateway did not log the anonymous tunnel")


@test
def certificate_from_another_ca_is_403(env):
	sim_up(env)
	for proto, how in PROTOCOLS:
		p = gw_proxy(env, "gwrogue", cert="rogue", cert_pki=env.other, protocol=proto)
		r, _ = connect(p, "echo.cloudsim.test:443")
		check(r.status == 403 and "machine certificate required" in details(r),
		      "CONNECT with another CA's machine certificate (%s): %r %s" % (how, r, r.header("proxy-status")))
	check(env.sim.log_has(r"connect echo\.cloudsim\.test:443 machine=- .*status=403 .*"
			      r"machine certificate required.*client certificate refused"),
	      "the gateway's log does not say why it refused\n" + env.sim.stderr_tail(6))


def healthz(p):
	status, _, body = p.admin_get("/healthz")
	return status, json.loads(body)


@test(timeout=60)
def gateway_killed_then_restarted(env):
	sim_up(env)
	o = env.origin
	sim = GwSim(o.http_port, pki=env.sim.pki)
	env.sims.append(sim)
	sim.write_config()
	sim.start()
	ps = [(gw_proxy(env, "gwkill", sim=sim, protocol=proto), how) for proto, how in PROTOCOLS]
	lives = []
	try:
		for p, how in ps:
			r = echo_get(p, sim, "/bytes/1000")
			check(r.status == 200 and r.body == tcs.pattern(1000), "tunnel before the kill (%s): %r" % (how, r))
			status, doc = healthz(p)
			check(status == 200 and doc["gateway"]["state"] == "up", "/healthz before (%s): %d %s"
			      % (how, status, doc))
			# A live tunnel at the moment the gateway dies.
			live = Conn(p.port, 5)
			lives.append((live, how))
			check(live.connect_tunnel("echo.cloudsim.test:443").status == 200, "live tunnel (%s)" % how)
			inner = tcs.inner_conn(sim, live)
			inner.request("GET", "/bytes/10", host="echo.cloudsim.test")
			check(inner.read_response().status == 200, "request on the live tunnel (%s)" % how)
		sim.kill()
		for live, how in lives:
			check(live.at_eof(timeout=REPLY_BOUND_S), "the live tunnel (%s) did not end within %.0fs of "
			      "the gateway's death" % (how, REPLY_BOUND_S))
	finally:
		for live, _ in lives:
			live.close()
	# Every request now fails fast with 502 and a reason, tunnels and absolute-form alike.
	for i in range(6):
		for p, how in ps:
			if i % 2 == 0:
				r, dt = connect(p, "echo.cloudsim.test:443", timeout=REPLY_BOUND_S + 3)
			else:
				t0 = time.monotonic()
				r = fetch(p.port, "GET", "http://plain.cloudsim.test/bytes/10", timeout=REPLY_BOUND_S + 3)
				dt = time.monotonic() - t0
			check(r.status == 502 and proxy_status_error(r) == "destination_unavailable",
			      "request #%d with the gateway down (%s): %r %s" % (i + 1, how, r, r.header("proxy-status")))
			check(details(r), "request #%d (%s): 502 without a reason in Proxy-Status" % (i + 1, how))
			check(dt < REPLY_BOUND_S, "request #%d with the gateway down took %.2fs (%s)" % (i + 1, dt, how))
		time.sleep(0.2)
	for p, how in ps:
		got = poll(lambda: (lambda h: h[0] == 503 and h)(healthz(p)), timeout=3) or healthz(p)
		check(got[0] == 503 and got[1]["gateway"]["state"] == "down",
		      "/healthz with the gateway down (%s): %d %s" % (how, got[0], got[1]))
		check(re.search(r"cannot connect to the gateway", p.stderr_text()),
		      "arcproxy's log does not say why the gateway is down (%s):\n%s" % (how, p.stderr_tail(8)))
		check(p.alive(), "arcproxy died with the gateway (%s)" % how)
	# Back on the same ports: recovery with no restart of arcproxy.
	pids = [p.pid for p, _ in ps]
	sim.start()
	t0 = time.monotonic()
	for p, how in ps:
		ok = None
		for _ in range(200):
			try:
				r = echo_get(p, sim, "/bytes/1000", timeout=5)
				if r.status == 200 and r.body == tcs.pattern(1000):
					ok = r
					break
			except (OSError, EOFError):
				pass
			if time.monotonic() - t0 > 20:
				break
			time.sleep(0.25)
		check(ok, "traffic did not recover within 20 s of the gateway's restart (%s)\n%s"
		      % (how, p.stderr_tail(8)))
		status, doc = healthz(p)
		check(status == 200 and doc["gateway"]["state"] == "up",
		      "/healthz after recovery (%s): %d %s" % (how, status, doc))
		r = fetch(p.port, "GET", "http://plain.cloudsim.test/bytes/1000")
		check(r.status == 200 and r.body == payload(1000), "absolute-form after recovery (%s): %r" % (how, r))
	check([p.pid for p, _ in ps] == pids and all(p.alive() for p, _ in ps), "arcproxy was restarted")


# --- 4. interop: Squid's https_port as the gateway ------------------------------------

@test(timeout=40)
def squid_https_port_as_gateway(env):
	sim_up(env)
	o, sim = env.origin, env.sim
	sq = Squid("gateway", [o.tls_port, o.http_port, sim.dead_port], tls=(sim.file("gateway.crt"), sim.file("gateway.key")))
	env.squids.append(sq)
	sq.start()
	p = gw_proxy(env, "gwsquidtls", gateway_port=sq.port)
	n = 4 << 20
	r = curl("-x", "http://127.0.0.1:%d" % p.port, "--cacert", o.ca,
		 "https://origin.test:%d/bytes/%d" % (o.tls_port, n), timeout=20)
	check(r.returncode == 0, "curl via arcproxy -> squid https_port -> origin: exit %d: %s\n%s\n%s"
	      % (r.returncode, r.stderr.decode(errors="replace").strip(), p.stderr_tail(8), sq.log_tail()))
	check(r.stdout == payload(n), "%d bytes through squid as the gateway differ" % len(r.stdout))
	e = one_entry(p, r"CONNECT origin\.test:%d " % o.tls_port, "the tunnel via squid's https_port")
	check(e["route"] == "gateway" and e["status"] == 200, "access log: %s" % e["line"])
	check(sq.saw(r"\bCONNECT origin\.test:%d\b" % o.tls_port),
	      "squid's access log shows no CONNECT origin.test:%d:\n%s" % (o.tls_port, sq.access_log()[-600:]))
	r = fetch(p.port, "GET", "http://origin.test:%d/bytes/70000" % o.http_port)
	check(r.status == 200 and r.body == payload(70000), "absolute-form via squid as the gateway: %r %s"
	      % (r, r.header("proxy-status")))
	check(sq.saw(r"\bCONNECT origin\.test:%d\b" % o.http_port), "squid did not log CONNECT origin.test:http")
	# Squid's ACL refusal is the gateway's 403; a dead target behind it (Squid: 503) a 502.
	r, dt = connect(p, "origin.test:%d" % o.echo_port)
	check(r.status == 403 and proxy_status_error(r) == "http_request_denied" and "403" in details(r),
	      "CONNECT to a port squid refuses: %r %s" % (r, r.header("proxy-status")))
	r, dt = connect(p, "origin.test:%d" % sim.dead_port)
	check(r.status == 502 and proxy_status_error(r) == "destination_unavailable",
	      "CONNECT to a dead port behind squid: %r %s" % (r, r.header("proxy-status")))
	# Squid serves no endpoint list: arcproxy says so, stays up, and sends everything to it.
	check(re.search(r"no endpoint list", p.stderr_text()), "arcproxy did not log the missing endpoint list")
	status, _, body = p.admin_get("/healthz")
	doc = json.loads(body)
	check(status == 200 and doc["gateway"]["state"] == "up" and doc["gateway"]["endpoints"] == -1,
	      "/healthz with squid as the gateway: %d %s" % (status, body))
	check(sq.saw(r"GET /\.well-known/arc-gateway/endpoints"), "arcproxy never asked squid for the list")


# --- SIGHUP: agent.conf and the files it names are read again ---------------------------

def replace_file(src, dst, owner=None, mode=0o644):
	"""Atomically put a copy of src at dst, as azcmagent or himds would (temp file, rename)."""
	tmp = dst + ".tmp"
	shutil.copy(src, tmp)
	os.chmod(tmp, mode)
	if owner:
		os.chown(tmp, owner.pw_uid, owner.pw_gid)
	os.rename(tmp, dst)


@test
def sighup_rereads_the_ca_file(env):
	"""The operator fixes ca.crt (same path in agent.conf) and sends SIGHUP: new tunnels verify."""
	sim_up(env)
	p = gw_proxy(env, "gwhupca", ca=os.path.join(env.other, "ca.crt"))
	r, _ = connect(p, "echo.cloudsim.test:443")
	check(r.status == 502 and "certificate verify failed" in details(r), "with the wrong CA: %r" % r)
	replace_file(env.sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
	p.reload()
	r = poll(lambda: (lambda x: x.status == 200 and x)(echo_get(p, env.sim, "/bytes/10")), timeout=5,
		 interval=0.25) or echo_get(p, env.sim, "/bytes/10")
	check(r.status == 200, "5 s after the CA file was fixed and SIGHUP: %r %s (a reload keeps the "
	      "gateway client when the ca_file path is unchanged)" % (r, details(r)))


@test
def sighup_rereads_a_renewed_machine_certificate(env):
	"""machine.crt/.key renewed in place (same paths) and SIGHUP: new tunnels carry the new identity."""
	sim_up(env)
	sim = env.sim
	r = sim.run("machine-cert", sim.pki, "m2")
	check(r.returncode == 0, "cloudsim machine-cert m2: %s" % r.stderr.strip())
	p = gw_proxy(env, "gwhupcert")
	r = echo_get(p, sim, "/bytes/10?before-renewal")
	check(r.status == 200, "tunnel with m1: %r" % r)
	for ext, mode in (("crt", 0o644), ("key", 0o600)):
		replace_file(sim.file("m2." + ext), os.path.join(p.identity_dir, "machine." + ext), p.user, mode)
	p.reload()
	time.sleep(0.3)
	for _ in range(3):	# more than the warm connections made before the reload
		r = echo_get(p, sim, "/bytes/10")
		check(r.status == 200, "tunnel after the renewal: %r" % r)
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m2 ", timeout=5),
	      "after machine.crt was renewed and SIGHUP, the gateway still sees the old identity:\n%s"
	      % "\n".join([l for l in sim.stderr_text().splitlines() if "gw_log_connect" in l][-3:]))


# --- 5. leaks ---------------------------------------------------------------------------

@test
def no_fd_leak(env):
	for p in (env.proxy, env.h1):
		check(p.alive(), "arcproxy %s is not running" % p.base)
		base = env.baselines[p]
		now = poll(lambda: p.fd_count() <= base and p.fd_count(), timeout=8, interval=0.25)
		check(now, "fd leak in %s: %d open fds, %d after the first tunnel\n%s"
		      % (p.base, p.fd_count(), base, "\n".join(p.fds())))
	for q in env.proxies:
		rep = q.sanitizer_report()
		check(not rep, "sanitizer report from arcproxy %s: %s" % (q.base, rep))
	for s in env.sims:
		rep = s.sanitizer_report()
		check(not rep, "sanitizer report from cloudsim %s: %s" % (s.base, rep))
