"""The proxy route: traffic through the operator's enterprise proxy (agent.conf proxy.url).

Expectations:
- A rule with route = "proxy" sends CONNECT tunnels and absolute-form requests through the
  enterprise proxy (a CONNECT to the destination's host:port there); curl reaches the TLS
  origin that way with verification on, and a plain GET's body is intact.
- Half-close passes across the proxy route too (echo, then BYE after the client's EOF).
- The enterprise proxy refusing a destination, or being down, gives the client a 502.
- The access log names the route "proxy".
- A client that leaves while the enterprise proxy has not answered the CONNECT cancels the
  open: arcproxy closes its connection to the enterprise proxy at once and logs client_abort;
  the same for a tunnel queued on a gateway that does not answer.
- An enterprise proxy that never answers the SYN: 504 with Proxy-Status error=connection_timeout.
- No fds leak.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time

import harness
from harness import (Conn, Proxy, check, curl, fetch, free_port, origin, payload, poll,
		     proxy_status_error, standard_env, std_routes, stop_env, test)
import origin as origin_mod

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	o = origin()
	env = standard_env(
		name="routes",
		hosts=[{"name": "origin.test", "address": "127.0.0.1"}],
		routes=[{"match": "origin.test", "route": "proxy"},
			{"match": "refused.test", "route": "proxy"}],
		agent_conf='proxy = { url = "http://127.0.0.1:%d"; };\n' % o.enterprise_port)
	env.origin.enterprise.refuse.add("refused.test:443")
	return env


def teardown(env):
	return stop_env(env)


def _seen(env, line):
	return any(r.split("\r\n")[0].startswith(line) for r in env.origin.enterprise.requests)


@test
def tunnel_via_enterprise_proxy(env):
	o = env.origin
	p = curl("--cacert", o.ca, "-x", "http://127.0.0.1:%d" % env.proxy.port,
		 "https://origin.test:%d/bytes/200000" % o.tls_port, timeout=20)
	check(p.returncode == 0, "curl through the proxy route: exit %d: %s"
	      % (p.returncode, p.stderr.decode().strip()))
	check(p.stdout == payload(200000), "body through the proxy route differs")
	check(_seen(env, "CONNECT origin.test:%d " % o.tls_port),
	      "the enterprise proxy never saw CONNECT origin.test:%d: %s" % (o.tls_port, o.enterprise.requests[-3:]))


@test
def absolute_form_via_enterprise_proxy(env):
	o = env.origin
	r = fetch(env.proxy.port, "GET", "http://origin.test:%d/bytes/70000" % o.http_port)
	check(r.status == 200 and r.body == payload(70000), "GET through the proxy route: %r" % r)
	check(_seen(env, "CONNECT origin.test:%d " % o.http_port),
	      "the enterprise proxy never saw a CONNECT for the GET: %s" % o.enterprise.requests[-3:])


@test
def half_close_via_enterprise_proxy(env):
	o = env.origin
	data = payload(100000)
	with Conn(env.proxy.port, timeout=10) as c:
		r = c.connect_tunnel("origin.test:%d" % o.echo_port)
		check(r.status == 200, "CONNECT through the proxy route: %d" % r.status)
		c.send(data)
		check(c.read_exact(len(data)) == data, "echo through the proxy route differs")
		c.shutdown_wr()
		check(c.read_to_eof(limit=100) == b"BYE\n", "the client's EOF did not cross the proxy route")


@test
def enterprise_refusal_502(env):
	with Conn(env.proxy.port) as c:
		r = c.connect_tunnel("refused.test:443")
	check(r.status == 502, "enterprise proxy answered 403: wanted 502, got %d" % r.status)


@test
def enterprise_down_502(env):
	o = env.origin
	p = Proxy(routes=std_routes(o) + [{"match": "origin.test", "route": "proxy"}], name="proxydown")
	p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % free_port())
	p.start()
	env.extra.append(p)
	with Conn(p.port) as c:
		r = c.connect_tunnel("origin.test:%d" % o.echo_port)
	check(r.status == 502, "enterprise proxy down: wanted 502, got %d" % r.status)
	r = fetch(p.port, "GET", "http://127.0.0.1:%d/bytes/10" % o.http_port)
	check(r.status == 200, "the direct route broke while the enterprise proxy is down: %d" % r.status)


class SilentProxy:
	"""An enterprise proxy that accepts and reads but never answers CONNECT; records when
	each connection's peer (arcproxy) closed it."""

	def __init__(self):
		self.accepted = 0
		self.closed = []
		self.svc = origin_mod.TcpService(self._handle)
		self.port = self.svc.port

	def _handle(self, conn):
		self.accepted += 1
		for _ in range(1 << 16):
			try:
				if not conn.recv(4096):
					break
			except OSError:
				break
		self.closed.append(time.monotonic())


@test
def client_leaving_cancels_proxy_open(env):
	"""While the enterprise proxy sits on the CONNECT, the client's EOF cancels the open: the
	connection to the enterprise proxy closes at once and the access log says client_abort."""
	o = env.origin
	silent = SilentProxy()
	p = Proxy(routes=std_routes(o) + [{"match": "slow.test:443", "route": "proxy"}],
		  limits={"connect_timeout_ms": 20000}, name="proxysilent")
	p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % silent.port)
	p.start()
	env.extra.append(p)
	try:
		before = p.metrics()
		c = Conn(p.port)
		c.send(b"CONNECT slow.test:443 HTTP/1.1\r\nHost: slow.test:443\r\n\r\n")
		check(poll(lambda: silent.accepted == 1, timeout=5), "the enterprise proxy was never asked")
		time.sleep(0.2)
		t0 = time.monotonic()
		c.close()
		check(poll(lambda: silent.closed, timeout=3),
		      "the client left, but the open through the enterprise proxy went on")
		check(silent.closed[0] - t0 < 2, "the open was cancelled only after %.1fs" % (silent.closed[0] - t0))
		lines = poll(lambda: [ln for ln in p.access_log_lines() if "slow.test:443" in ln], timeout=3)
		check(lines and "client_abort" in lines[-1], "access-log line for the abort: %r" % lines)
		after = p.metrics()
		key = ("arcproxy_errors_total", frozenset({"kind": "client_abort"}.items()))
		check(after.get(key, 0) == before.get(key, 0) + 1,
		      "arcproxy_errors_total{kind=client_abort}: %r -> %r" % (before.get(key), after.get(key)))
	finally:
		silent.svc.close()


@test
def client_leaving_cancels_gateway_open(env):
	"""The same on the gateway route: a gateway that accepts TCP and never answers the TLS
	handshake keeps the tunnel queued; the client's EOF cancels it (client_abort, at once)."""
	o = env.origin
	silent = SilentProxy()
	p = Proxy(routes=[{"match": "*:443", "route": "gateway"}], name="gwsilent",
		  limits={"connect_timeout_ms": 20000})
	p.settings.pop("default_route")
	p.write_config()
	shutil.copy(o.ca, os.path.join(p.conf_dir, "ca.crt"))
	os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
	p.write_agent_conf('connection = { type = "gateway"; };\n'
			   'gateway = { url = "https://127.0.0.1:%d"; ca_file = "ca.crt"; };\n' % silent.port)
	p.start()
	env.extra.append(p)
	try:
		c = Conn(p.port)
		c.send(b"CONNECT queued.test:443 HTTP/1.1\r\nHost: queued.test:443\r\n\r\n")
		check(poll(lambda: silent.accepted >= 1, timeout=5), "the gateway was never dialled")
		time.sleep(0.3)
		t0 = time.monotonic()
		c.close()
		lines = poll(lambda: [ln for ln in p.access_log_lines() if "queued.test:443" in ln], timeout=3)
		check(lines and "client_abort" in lines[-1],
		      "no client_abort line within 3s of the client leaving: %r" % lines)
		check(time.monotonic() - t0 < 3, "the queued open was cancelled late")
		check(p.alive(), "arcproxy died cancelling a queued gateway open")
	finally:
		silent.svc.close()


@test
def enterprise_connect_timeout_504(env):
	"""An enterprise proxy that never answers the SYN: 504 with Proxy-Status
	error=connection_timeout after limits.connect_timeout_ms."""
	o = env.origin
	lst = socket.socket()
	lst.bind(("127.0.0.1", 0))
	lst.listen(0)
	keep = [lst]
	try:
		for _ in range(3):		# fill the accept queue: later SYNs are dropped
			s = socket.socket()
			s.setblocking(False)
			s.connect_ex(lst.getsockname())
			keep.append(s)
		time.sleep(0.1)
		p = Proxy(routes=std_routes(o) + [{"match": "slow.test:443", "route": "proxy"}],
			  limits={"connect_timeout_ms": 500}, name="proxyblackhole")
		p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % lst.getsockname()[1])
		p.start()
		env.extra.append(p)
		t0 = time.monotonic()
		with Conn(p.port) as c:
			r = c.connect_tunnel("slow.test:443")
		dt = time.monotonic() - t0
		check(r.status == 504, "enterprise proxy never answering: wanted 504, got %d" % r.status)
		check(proxy_status_error(r) == "connection_timeout",
		      "Proxy-Status %r, wanted error=connection_timeout" % r.header("proxy-status"))
		check(dt < 3, "the 504 took %.1fs for a 0.5s connect timeout" % dt)
	finally:
		for s in keep:
			s.close()


@test
def access_log_names_route(env):
	o = env.origin
	tag = "route%d" % time.monotonic_ns()
	r = fetch(env.proxy.port, "GET", "http://origin.test:%d/bytes/10?%s" % (o.http_port, tag))
	check(r.status == 200, "GET status %d" % r.status)
	lines = poll(lambda: [l for l in env.proxy.access_log_lines() if tag in l], timeout=3)
	check(lines and re.search(r"\bproxy\b", lines[0]), "access-log line for the proxy route: %r" % lines)


@test
def proxy_bypass_goes_around_the_proxy(env):
	"""agent.conf proxy.bypass: the services it names leave the proxy's way and go direct (here to
	the SSRF guard's 403, since the test's names resolve to loopback: the enterprise proxy never
	sees them); the rest still goes through the proxy; without the setting, all of it does.
	arcproxy.conf's proxy_bypass_services names the hosts of a service."""
	o = env.origin
	p = Proxy(routes=std_routes(o), default_route="proxy", name="proxybypass",
		  hosts=[{"name": "origin.test", "address": "127.0.0.1"},
			 {"name": "management.test", "address": "127.0.0.1"},
			 {"name": "eu.login.test", "address": "127.0.0.1"}],
		  extra={"proxy_bypass_services": {"ARM": ["management.test"], "AAD": ["*.login.test"]}})
	agent = 'proxy = { url = "http://127.0.0.1:%d"; bypass = [ "ARM", "AAD" ]; };\n' % o.enterprise_port
	p.write_agent_conf(agent)
	p.start()
	env.extra.append(p)

	def tunnel(dest):
		n = len([l for l in p.access_log_lines() if dest in l])
		with Conn(p.port, timeout=10) as c:
			r = c.connect_tunnel(dest)
		lines = poll(lambda: (lambda ls: ls if len(ls) > n else None)(
			[l for l in p.access_log_lines() if dest in l]), timeout=3)
		return r.status, lines[-1] if lines else ""

	for dest in ("management.test:%d" % o.echo_port, "eu.login.test:443"):
		status, line = tunnel(dest)
		check(status == 403 and re.search(r"\bdirect\b", line),
		      "%s named by proxy.bypass: %d, access log %r" % (dest, status, line))
		check(not _seen(env, "CONNECT %s " % dest), "the enterprise proxy saw %s" % dest)
	status, line = tunnel("origin.test:%d" % o.echo_port)
	check(status == 200 and re.search(r"\bproxy\b", line), "origin.test: %d, %r" % (status, line))
	code, _, body = p.admin_get("/status")
	bypass = json.loads(body).get("proxy_bypass") if code == 200 else None
	check(bypass == ["management.test", "*.login.test"], "/status proxy_bypass: %r" % bypass)
	# The same destination once proxy.bypass is cleared: to the proxy (which knows no
	# management.test: its refusal is a 502).
	p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % o.enterprise_port)
	p.reload()
	dest = "management.test:%d" % o.echo_port
	status, line = poll(lambda: (lambda r: r if re.search(r"\bproxy\b", r[1]) else None)(tunnel(dest)),
			    timeout=5, interval=0.2) or tunnel(dest)
	check(status == 502 and re.search(r"\bproxy\b", line) and _seen(env, "CONNECT %s " % dest),
	      "%s without proxy.bypass: %d, %r" % (dest, status, line))


@test
def https_proxy_of_the_environment(env):
	"""Without proxy.url, arcproxy takes the HTTPS_PROXY of its environment as the enterprise proxy
	(the Azure agent's rule; proxy.url wins when set); one that names arcproxy itself is not used
	and the log says so."""
	o = env.origin
	hosts = [{"name": "origin.test", "address": "127.0.0.1"}]
	enterprise = "http://127.0.0.1:%d" % o.enterprise_port

	def start(name, environ, agent=None):
		p = Proxy(routes=std_routes(o), default_route=None, hosts=hosts, name=name, environ=environ)
		if agent is not None:
			p.write_agent_conf(agent)
		p.start()
		env.extra.append(p)
		return p

	def through(p):
		dest = "origin.test:%d" % o.echo_port
		n = len([l for l in env.origin.enterprise.requests if l.startswith("CONNECT %s " % dest)])
		with Conn(p.port, timeout=10) as c:
			r = c.connect_tunnel(dest)
		seen = len([l for l in env.origin.enterprise.requests if l.startswith("CONNECT %s " % dest)])
		return r.status, seen > n

	p = start("envproxy", {"https_proxy": enterprise})
	code, _, body = p.admin_get("/status")
	st = json.loads(body)
	check(st["upstream_proxy"] == enterprise and st["upstream_proxy_from"] == "https_proxy",
	      "/status: %r" % {k: st.get(k) for k in ("upstream_proxy", "upstream_proxy_from")})
	status, seen = through(p)
	check(status == 200 and seen, "HTTPS_PROXY unused: %d, the enterprise proxy saw it: %s" % (status, seen))
	check(re.search(r"enterprise proxy %s, from https_proxy" % re.escape(enterprise), p.stderr_tail()),
	      "arcproxy's log does not say where its proxy came from:\n%s" % p.stderr_tail())
	r = subprocess.run([str(harness.BIN_DIR / "azcmagent"), "show", "-j", "--config-dir", p.conf_dir,
			    "--state-dir", p.state_dir, "--run-dir", p.run_dir, "--proxy",
			    "http://127.0.0.1:%d" % p.port], capture_output=True, text=True, timeout=30,
			   env=p.environ)
	shown = json.loads(r.stdout).get("upstreamProxy") if r.returncode == 0 else r.stderr
	check(shown == "%s (https_proxy of arcproxy's environment)" % enterprise, "azcmagent show: %r" % shown)
	# proxy.url wins: agent.conf names a proxy that is down, so the tunnel fails (502).
	p = start("envproxy2", {"HTTPS_PROXY": enterprise},
		  agent='proxy = { url = "http://127.0.0.1:%d"; };\n' % free_port())
	status, seen = through(p)
	check(status == 502 and not seen, "proxy.url did not win over HTTPS_PROXY: %d, %s" % (status, seen))
	# HTTPS_PROXY naming arcproxy itself (a shell set up for extensions): not used, said once.
	port = free_port()
	p = Proxy(routes=std_routes(o), default_route=None, hosts=hosts, name="envproxy3",
		  environ={"HTTPS_PROXY": "http://localhost:%d" % port}, extra={"listen": ["127.0.0.1:%d" % port]})
	p.port = port
	p.start()
	env.extra.append(p)
	code, _, body = p.admin_get("/status")
	st = json.loads(body)
	check(st["upstream_proxy"] is None, "arcproxy took itself as its proxy: %r" % st["upstream_proxy"])
	check("HTTPS_PROXY \"http://localhost:%d\" is arcproxy itself: not used" % port in p.stderr_tail(),
	      "no word of the HTTPS_PROXY left aside:\n%s" % p.stderr_tail())


@test
def proxy_bypass_services_refused(env):
	"""A service name that is not one of the five, or a bad host pattern: arcproxy -n says where."""
	for services, want in (({"Storage": ["x.test"]}, '"Storage" is not one of AAD, ARM, AMA, Arc, ArcData'),
			       ({"ARM": ["bad host:99999"]}, "proxy_bypass_services.ARM:")):
		p = Proxy(name="bypassbad", extra={"proxy_bypass_services": services})
		r = p.check_config()
		check(r.returncode != 0 and want in r.stderr, "arcproxy -n with %r: exit %d\n%s"
		      % (services, r.returncode, r.stderr))
		shutil.rmtree(p.base, ignore_errors=True)


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
