"""The appliance behind a firewall whose only way out is the enterprise proxy (issue 14, variant B).

The topology of test_firewall.py, with a Squid on 198.18.0.2:3128 in the cloud namespace whose ACL
allows only CONNECT to the gateway (198.18.0.1:8443); the machine's firewall lets only arcproxy's
uid reach 198.18.0.2:3128, and `azcmagent config set proxy.url http://198.18.0.2:3128` comes
before `azcmagent connect`.

Expectations:
- connect, a heartbeat in the operator API, `azcmagent show -j` Connected, a token through
  himds's challenge, the Hello extension enabled (its enable runs plain curl) and a guest
  configuration reported Compliant, all through arcproxy -> Squid -> the gateway, with no drop.
- curl through arcproxy reaches echo; root and himds cannot reach the Squid or the gateway straight
  (dropped, and counted for their uid); arcproxy's uid has no drop (it never tries the gateway
  straight).
- Squid's access log shows only CONNECTs to gw.cloudsim.test:8443, from the machine, and arcproxy's
  access log shows every destination through the gateway.
"""

import re

import netns
import test_firewall as tf
from harness import check, poll, test

# run.py may run this module beside others, one module of the lane "netns" at a time (each
# boots a whole appliance in namespaces of its own).
PARALLEL = "netns"


def setup():
	return tf.fw_env("B", name="fw-b")


def teardown(env):
	return tf.stop_fw_env(env)


def connected(env):
	tf.need(env)
	if env.connected_at is None:
		r = env.app.azcm("config", "set", "proxy.url", "http://%s:%d" % (netns.SQUID_IP, netns.SQUID_PORT))
		check(r.returncode == 0, "azcmagent config set proxy.url: exit %d: %s" % (r.returncode, r.stderr))
	tf.connected(env)


@test(timeout=40)
def connect_through_squid(env):
	connected(env)
	app = env.app
	m = poll(lambda: tf.heartbeat_after(app, env.connected_at), timeout=15, interval=0.3)
	check(m, "no heartbeat after connect in the operator API\n%s" % app.himds.tail())
	rc, show = tf.azcm_json(app, "show")
	check(rc == 0 and show.get("status") == "Connected", "azcmagent show -j: exit %d %r" % (rc, show))
	status, body = tf.token(app)
	check(status == 200 and '"access_token"' in body, "token: status %d: %s" % (status, body))
	status, body = app.admin("/healthz")
	check('"state":"up"' in body and str(netns.SQUID_PORT) in body,
	      "/healthz does not show the gateway up behind the proxy: %s" % body)


@test(timeout=40)
def only_the_proxy(env):
	connected(env)
	app = env.app
	r = tf.echo_via_proxy(app)
	check(r.returncode == 0 and '"method":"GET"' in r.stdout, "curl through arcproxy: %s" % r.stderr)
	for user, counter in ((None, "drop_root"), ("himds", "drop_himds")):
		tf.dropped(env, user, "%s:%d" % (netns.SQUID_IP, netns.SQUID_PORT), counter)
		tf.dropped(env, user, "%s:%d" % (netns.CLOUD_IP, netns.GATEWAY_PORT), counter)
	c = env.topo.counters()
	check(c["drop_arcproxy"] == 0, "arcproxy's uid had packets dropped: %r" % c)
	check(c["allow_arcproxy"] >= 1, "arcproxy's connections to the proxy were not counted: %r" % c)


@test(timeout=60)
def extension_and_guest_configuration(env):
	"""Steps 3 and 4 through arcproxy -> Squid -> the gateway: the Hello extension (enable runs
	plain curl) and an assignment evaluated and reported; nothing dropped meanwhile."""
	connected(env)
	tf.agentlets(env)
	app = env.app
	before = env.topo.counters()
	tf.pack_hello(app, "1.0")
	seq = tf.put_extension(app, "hello", "1.0", 1000)
	target = app.work + "/gc-marker"
	uri, sha = tf.pack_config(app, "fwmarker", "1.0.0", target, "behind squid\n")
	tf.put_assignment(app, "fwmarker", uri, sha)
	view = poll(lambda: tf.extension_enabled(app, "hello", seq), timeout=40, interval=0.3)
	check(view and "fetched 1000 bytes" in str(view["status"]), "the extension was not enabled: %r\n%s" % (
		app.operator("GET", "/operator/machines/%s/extensions/hello" % app.name), app.extmgr.tail()))
	check(poll(lambda: tf.compliant(app, "fwmarker", target, "behind squid\n"), timeout=40, interval=0.3),
	      "no Compliant report\n%s" % app.guestconfig.tail())
	tf.quiet_counters(env, before, "the extension and the assignment")


@test(timeout=30)
def squid_saw_only_the_gateway(env):
	"""Last: Squid logs a tunnel when it closes, and arcproxy keeps its connection to the
	gateway open, so arcproxy is stopped first (it must exit 0)."""
	connected(env)
	app = env.app
	rc = app.arcproxy.stop()
	check(rc == 0, "arcproxy exited %s on SIGTERM\n%s" % (rc, app.arcproxy.tail()))
	lines = poll(lambda: app.squid_log().splitlines(), timeout=10, interval=0.3)
	check(lines, "Squid's access log is empty (%s)" % app.squid_access)
	for line in lines:
		f = line.split()
		check(len(f) > 6 and f[5] == "CONNECT" and f[6] == "gw.cloudsim.test:%d" % netns.GATEWAY_PORT
		      and f[2] == netns.MACHINE_IP and re.match(r"TCP_TUNNEL/200", f[3]),
		      "Squid's access log has more than CONNECTs to the gateway: %s" % line)
	got = [ln.split() for ln in app.access_log()]
	check(any(len(f) > 4 and f[3] == "management.cloudsim.test:443" for f in got),
	      "arcproxy's access log lacks management.cloudsim.test: %r" % app.access_log())
	for f in got:
		check(len(f) > 4 and f[4] == "gateway", "an access-log line not through the gateway: %s" % " ".join(f))
