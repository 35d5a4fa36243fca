"""The gateway route, SIGHUP: agent.conf and the files it names are read again.

Expectations:
- SIGHUP re-reads the CA file and a machine certificate renewed in place (same paths in agent.conf
  and the state dir): new tunnels verify with the new CA and present the new identity.
- /healthz asked again and again while reloads switch gateway mode off and on (what a failed
  `azcmagent connect` does while it polls): arcproxy stays up (a worker still on the old gateway
  with no URL in the new configuration crashed it).
"""

import os
import shutil
import threading
import time

import fixtures
from fixtures import echo_get, gw_proxy, proxy_details, sim_up, timed_connect
from harness import check, free_port, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.gateway_env()


def teardown(env):
	return fixtures.stop_gateway_env(env)


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
	r, _ = timed_connect(p, "echo.cloudsim.test:443")
	check(r.status == 502 and "certificate verify failed" in proxy_details(r), "with the wrong CA: %r" % r)
	replace_file(env.sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
	p.reload()
	r = poll(lambda: (lambda x: x.status == 200 and x)(echo_get(p, env.sim, "/bytes/10")), timeout=5,
		 interval=0.25) or echo_get(p, env.sim, "/bytes/10")
	check(r.status == 200, "5 s after the CA file was fixed and SIGHUP: %r %s (a reload keeps the "
	      "gateway client when the ca_file path is unchanged)" % (r, proxy_details(r)))


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


@test(timeout=60)
def healthz_while_reloads_leave_gateway_mode(env):
	p = gw_proxy(env, "gwhealthz", gateway_port=free_port())	# configured, and down
	gateway = open(os.path.join(p.conf_dir, "agent.conf")).read()
	stop = threading.Event()
	asked = []

	def ask():
		while not stop.is_set():
			try:
				asked.append(p.admin_get("/healthz", timeout=2)[0])
			except OSError:
				time.sleep(0.01)

	t = threading.Thread(target=ask)
	t.start()
	try:
		for _ in range(15):
			p.write_agent_conf("")
			p.reload()
			time.sleep(0.05)
			p.write_agent_conf(gateway)
			p.reload()
			time.sleep(0.05)
	finally:
		stop.set()
		t.join(10)
	check(p.alive(), "arcproxy exited (status %s) while /healthz was asked during reloads\n%s"
	      % (p.proc.returncode, p.stderr_tail()))
	check(len(asked) > 10 and set(asked) <= {200, 503}, "/healthz answers: %r" % sorted(set(asked)))
