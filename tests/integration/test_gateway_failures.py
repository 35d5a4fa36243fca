"""The gateway route, failures: a wrong CA, no or a foreign machine certificate, a gateway that dies.

Expectations (with gateway.protocol unset and "http/1.1" alike):
- A wrong CA in agent.conf gives 502 with "certificate verify failed" in Proxy-Status details and in
  arcproxy's log; no machine certificate, or one from another CA, gives 403 with the gateway's reason
  ("machine certificate required") in the details; the anonymous (registration) endpoint still works.
- When the gateway is killed, every request gets 502 within 2 s, /healthz answers 503 with the
  gateway "down", a live tunnel ends, nothing hangs; when it comes back on the same ports, traffic
  recovers by itself (no restart or reload of arcproxy).
"""

import os
import re
import time

import fixtures
from fixtures import (PROTOCOLS, REPLY_BOUND_S, GwSim, echo_get, gw_proxy, healthz, inner_conn,
		      one_entry, pattern, proxy_details, sim_up, timed_connect)
from harness import Conn, check, fetch, payload, poll, proxy_status_error, test


def setup():
	return fixtures.gateway_env()


def teardown(env):
	return fixtures.stop_gateway_env(env)


# --- the CA and the machine certificate --------------------------------------------


@test
def wrong_ca_is_502_certificate_verify_failed(env):
	sim_up(env)
	for proto, how in PROTOCOLS:
		p = gw_proxy(env, "gwwrongca", ca=os.path.join(env.other, "ca.crt"), protocol=proto)
		for i in range(2):	# the first waits for the handshake, the next fails fast while backing off
			r, dt = timed_connect(p, "echo.cloudsim.test:443")
			check(r.status == 502, "CONNECT #%d with the wrong CA (%s): %r" % (i + 1, how, r))
			check(proxy_status_error(r) == "destination_unavailable" and
			      "certificate verify failed" in proxy_details(r),
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
		r, _ = timed_connect(p, "echo.cloudsim.test:443")
		check(r.status == 403 and proxy_status_error(r) == "http_request_denied",
		      "CONNECT without a machine certificate (%s): %r %s" % (how, r, r.header("proxy-status")))
		check("machine certificate required" in proxy_details(r),
		      "Proxy-Status details %r lack the gateway's reason (%s)" % (r.header("proxy-status"), how))
		e = one_entry(p, r"CONNECT echo\.cloudsim\.test:443 ", "the refused CONNECT")
		check(e["route"] == "gateway" and e["status"] == 403, "access log (%s): %s" % (how, e["line"]))
		# Registration (the anonymous endpoint) works without an identity.
		r = echo_get(p, env.sim, "/bytes/100", host="management.cloudsim.test")
		check(r.status == 200 and r.body == pattern(100),
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
		r, _ = timed_connect(p, "echo.cloudsim.test:443")
		check(r.status == 403 and "machine certificate required" in proxy_details(r),
		      "CONNECT with another CA's machine certificate (%s): %r %s" % (how, r, r.header("proxy-status")))
	check(env.sim.log_has(r"connect echo\.cloudsim\.test:443 machine=- .*status=403 .*"
			      r"machine certificate required.*client certificate refused"),
	      "the gateway's log does not say why it refused\n" + env.sim.stderr_tail(6))


# --- the gateway dies and comes back ------------------------------------------------

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
			check(r.status == 200 and r.body == pattern(1000), "tunnel before the kill (%s): %r" % (how, r))
			status, doc = healthz(p)
			check(status == 200 and doc["gateway"]["state"] == "up", "/healthz before (%s): %d %s"
			      % (how, status, doc))
			# A live tunnel at the moment the gateway dies.
			live = Conn(p.port, 5)
			lives.append((live, how))
			check(live.connect_tunnel("echo.cloudsim.test:443").status == 200, "live tunnel (%s)" % how)
			inner = inner_conn(sim, live)
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
				r, dt = timed_connect(p, "echo.cloudsim.test:443", timeout=REPLY_BOUND_S + 3)
			else:
				t0 = time.monotonic()
				r = fetch(p.port, "GET", "http://plain.cloudsim.test/bytes/10", timeout=REPLY_BOUND_S + 3)
				dt = time.monotonic() - t0
			check(r.status == 502 and proxy_status_error(r) == "destination_unavailable",
			      "request #%d with the gateway down (%s): %r %s" % (i + 1, how, r, r.header("proxy-status")))
			check(proxy_details(r), "request #%d (%s): 502 without a reason in Proxy-Status" % (i + 1, how))
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
				if r.status == 200 and r.body == pattern(1000):
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
