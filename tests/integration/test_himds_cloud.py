"""himds with cloudsim's control plane: registration, heartbeat, tokens and renewal.

Expectations:
- With cloudsim's control plane (API.md): a machine registered through arcproxy and the gateway
  heartbeats until the operator API shows it Connected; the token from curl and from urllib is a
  JWT that verifies with the CA's key, for the resource asked; a short certificate lifetime is
  renewed at half of it (new key 0640 in its group, new certificate, arcproxy asked to reload with
  POST /identity/reload on its admin API, which it grants to the himds user through group arc) and
  the heartbeats go on with the new certificate.
- A flood of challenges from one uid gets 429 once it holds its share of live keys, and evicts no
  key of another caller.
"""

import base64
import calendar
import grp
import http.client
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import fixtures
import harness
from fixtures import (CLOUD_URL, INSTANCE, MD, RESOURCE, ROOT, TOKEN, ArcProxy, Sim, api, curl_token,
		      identity_dir, machine_json, new_himds, put_ca, put_file, read_key, realm_path,
		      share_state_dir, urllib_token)
from harness import Skip, check, curl, free_port, poll, test, wait_port

MACHINE = "himds-it"
ONBOARDING_TOKEN = "himds-onboarding-token"
CERT_LIFETIME = 24	# seconds: renewed at 12


def setup():
	env = fixtures.himds_env()
	try:
		env.proxy = cloud(env).himds
	except BaseException:
		fixtures.stop_himds_env(env)
		raise
	return env


def teardown(env):
	return fixtures.stop_himds_env(env)


# --- with cloudsim's control plane ----------------------------------------------------

class ControlSim(Sim):
	"""cloudsim with the control plane of cloudsim/API.md."""

	def __init__(self):
		super().__init__()
		self.control_port = free_port()
		self.operator_port = free_port()

	def settings(self):
		s = super().settings()
		s["hosts"] = [h for h in s["hosts"] if h["name"] != "management.cloudsim.test"]
		s["hosts"].append({"name": "management.cloudsim.test", "target": "127.0.0.1:%d" % self.control_port})
		s["control"] = {
			"listen": "127.0.0.1:%d" % self.control_port,
			"operator_listen": "127.0.0.1:%d" % self.operator_port,
			"onboarding_tokens": [ONBOARDING_TOKEN],
			"subscription_id": "00000000-1111-2222-3333-444444444444",
			"resource_group": "rg-himds",
			"tenant_id": "55555555-6666-7777-8888-999999999999",
			"location": "westeurope",
			"heartbeat_interval_seconds": 2,
			"cert_lifetime_seconds": CERT_LIFETIME,
			"token_lifetime_seconds": 3600,
		}
		return s

	def start(self):
		super().start()
		for port in (self.control_port, self.operator_port):
			if not wait_port(port, 5, self.proc):
				raise AssertionError("cloudsim's control plane does not listen on %d\n%s"
						     % (port, self.stderr_tail()))
		return self

	def operator(self, path):
		c = http.client.HTTPConnection("127.0.0.1", self.operator_port, timeout=10)
		try:
			c.request("GET", path)
			r = c.getresponse()
			body = r.read()
		finally:
			c.close()
		return r.status, (json.loads(body) if body else None)


class Cloud:
	def __init__(self):
		self.sim = None
		self.proxy = None	# arcproxy in gateway mode
		self.himds = None
		self.resource = None
		self.registered_at = None
		self.register_tunnels = 0	# gateway tunnels arcproxy had made after the registration
		self.reloads = 0		# arcproxy's reloads after the registration
		self.first_crt = None		# the registration's machine.crt and .key
		self.first_key = None


def cloud(env):
	"""The cloud part, started once: cloudsim with its control plane, arcproxy in gateway mode,
	the machine registered through them, and himds on that identity."""
	if env.cloud_error:
		raise Skip(env.cloud_error)
	if env.cloud:
		return env.cloud
	sim = ControlSim()
	sim.pki = env.sim.pki
	sim.write_config()
	r = sim.run("-n", "--config-dir", sim.conf_dir)
	if r.returncode != 0:
		if "control" in r.stderr:
			env.cloud_error = "waiting on cloudsim's control plane (cloudsim -n: %s)" % r.stderr.strip()
			shutil.rmtree(sim.base, ignore_errors=True)
			raise Skip(env.cloud_error)
		raise AssertionError("cloudsim -n: %s" % r.stderr.strip())
	env.sims.append(sim)
	try:
		sim.start()
	except AssertionError:
		if sim.alive():
			env.cloud_error = ("waiting on cloudsim's control plane: cloudsim takes the control "
					   "settings but does not serve them yet")
			raise Skip(env.cloud_error)
		raise
	c = Cloud()
	c.sim = sim
	# arcproxy in gateway mode, no identity yet: only the registration endpoint.
	p = ArcProxy(hosts=[{"name": "gw.cloudsim.test", "address": "127.0.0.1"}], name="himds-gw")
	p.settings.pop("default_route")
	p.write_config()
	shutil.copy(sim.file("ca.crt"), os.path.join(p.conf_dir, "ca.crt"))
	os.chmod(os.path.join(p.conf_dir, "ca.crt"), 0o644)
	p.write_agent_conf('connection = { type = "gateway"; };\n'
			   'gateway = { url = "https://gw.cloudsim.test:%d"; ca_file = "ca.crt"; };\n' % sim.gw_port)
	share_state_dir(p.state_dir)
	env.proxies.append(p)
	p.start()
	c.proxy = p
	register(c, p.state_dir)
	p.reload()	# it presents the new machine certificate from now on
	reloads = lambda: len(re.findall("configuration reloaded", p.stderr_text()))
	check(poll(lambda: reloads() >= 1), "arcproxy did not reload after the registration")
	c.reloads = reloads()
	h = new_himds(env, "himds-cloud", state_dir=p.state_dir, proxy="http://127.0.0.1:%d" % p.port,
		      arcproxy_admin="127.0.0.1:%d" % p.admin_port)
	h.start()
	c.himds = h
	env.cloud = c
	return c


def register(c, state_dir):
	"""What azcmagent connect does: key and CSR made here, POST register through arcproxy, the state files."""
	own = identity_dir(state_dir)
	key = os.path.join(own, "machine.key")
	subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
		       check=True, capture_output=True)
	csr = subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + MACHINE],
			     check=True, capture_output=True, text=True).stdout
	put_file(key, read_key(key), 0o640)
	body = json.dumps({"onboardingToken": ONBOARDING_TOKEN, "csr": csr, "name": MACHINE,
			   "location": "westeurope", "tags": {"env": "test", "owner": "himds"},
			   "agentVersion": "test"})
	p = curl("-x", "http://127.0.0.1:%d" % c.proxy.port, "--cacert", c.sim.file("ca.crt"),
		 "-H", "Content-Type: application/json", "--data-binary", body, "-w", "\n%{http_code}",
		 CLOUD_URL + "/machines/register", timeout=30)
	out = p.stdout.decode("utf-8", "replace")
	text, _, code = out.rpartition("\n")
	check(p.returncode == 0 and code == "201", "register through arcproxy: exit %d, HTTP %s: %s %s"
	      % (p.returncode, code, text[:300], p.stderr.decode(errors="replace")))
	answer = json.loads(text)
	c.register_tunnels = harness.metric_sum(c.proxy.metrics(), "arcproxy_tunnels_total", route="gateway")
	check(c.register_tunnels >= 1, "the registration did not go through the gateway route")
	c.resource = answer["resource"]
	c.registered_at = time.time()
	put_file(os.path.join(own, "machine.crt"), answer["certificate"], 0o644)
	c.first_crt, c.first_key = answer["certificate"], read_key(key)
	put_file(os.path.join(state_dir, "machine.json"),
		 machine_json(answer["resource"], put_ca(c.sim, state_dir), answer.get("heartbeatIntervalSeconds")),
		 0o644)


def b64url(s):
	return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def der_signature(raw):
	"""ES256's r||s as the DER that openssl dgst -verify reads."""
	def der_int(b):
		b = b.lstrip(b"\0") or b"\0"
		if b[0] & 0x80:
			b = b"\0" + b
		return b"\x02" + bytes([len(b)]) + b
	body = der_int(raw[:32]) + der_int(raw[32:])
	return b"\x30" + bytes([len(body)]) + body


def verify_jwt(c, token):
	"""Checks the ES256 signature with the CA's public key; returns the claims."""
	head, payload, sig = token.split(".")
	check(json.loads(b64url(head)).get("alg") == "ES256", "JWT header %r" % b64url(head))
	d = tempfile.mkdtemp(dir=harness.tmp_root())
	pub, data, sigf = (os.path.join(d, n) for n in ("pub.pem", "data", "sig.der"))
	subprocess.run(["openssl", "x509", "-in", c.sim.file("ca.crt"), "-pubkey", "-noout", "-out", pub],
		       check=True, capture_output=True)
	with open(data, "wb") as f:
		f.write((head + "." + payload).encode())
	with open(sigf, "wb") as f:
		f.write(der_signature(b64url(sig)))
	r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sigf, data],
			   capture_output=True, text=True)
	shutil.rmtree(d, ignore_errors=True)
	check(r.returncode == 0 and "Verified OK" in r.stdout, "the token's signature does not verify: %s %s"
	      % (r.stdout, r.stderr))
	return json.loads(b64url(payload))


@test(timeout=45)
def heartbeat_visible_in_the_cloud(env):
	c = cloud(env)
	h = c.himds

	def seen():
		status, m = c.sim.operator("/operator/machines/" + MACHINE)
		return status == 200 and m.get("lastHeartbeat") and m.get("status") == "Connected" and m
	m = poll(seen, timeout=15, interval=0.25)
	check(m, "the operator API does not show a heartbeat: %r\n%s" % (c.sim.operator("/operator/machines/" +
											 MACHINE), h.stderr_tail()))
	check(m["resourceId"] == c.resource["resourceId"], "operator: %r" % m)
	st = poll(lambda: h.status_file().get("status") == "Connected" and h.status_file(), timeout=5)
	check(st and st["lastHeartbeat"] and st["lastError"] is None, "himds.json: %r" % h.status_file())
	status, _, doc = api(h, "/agentstatus", MD)
	check(doc["status"] == "Connected" and doc["resourceId"] == c.resource["resourceId"] and doc["lastHeartbeat"],
	      "/agentstatus: %r" % doc)
	# Only the registration's curl and himds use this arcproxy: more gateway tunnels than the
	# registration's are himds's (its keep-alive tunnel may not have ended, nor been logged).
	tunnels = lambda: harness.metric_sum(c.proxy.metrics(), "arcproxy_tunnels_total", route="gateway")
	check(poll(lambda: tunnels() > c.register_tunnels, timeout=5),
	      "the heartbeat did not go through arcproxy's gateway route (%d gateway tunnels, %d at "
	      "registration)" % (tunnels(), c.register_tunnels))
	status, _, doc = api(h, INSTANCE, MD)
	check(status == 200 and doc["compute"]["vmId"] == c.resource["vmId"] and
	      doc["compute"]["tags"] == "env:test;owner:himds", "instance after register: %r" % doc)


@test(timeout=45)
def token_with_curl(env):
	c = cloud(env)
	status, _, body, key_path, _ = curl_token(c.himds)
	check(status == 200, "token with curl: %d %s\n%s" % (status, body, c.himds.stderr_tail()))
	doc = json.loads(body)
	for k in ("access_token", "expires_on", "expires_in", "resource", "token_type"):
		check(k in doc, "token answer lacks %s: %r" % (k, doc))
	check(doc["token_type"] == "Bearer" and doc["resource"] == RESOURCE, "token answer %r" % doc)
	check(not os.path.exists(key_path), "the key file outlived its use")
	claims = verify_jwt(c, doc["access_token"])
	check(claims.get("aud") == RESOURCE and claims.get("xms_mirid") == c.resource["resourceId"] and
	      claims.get("sub") == c.resource["vmId"], "claims %r" % claims)
	check(abs(int(doc["expires_on"]) - claims["exp"]) <= 1, "expires_on %s, exp %s"
	      % (doc["expires_on"], claims["exp"]))


@test(timeout=45)
def token_with_urllib(env):
	c = cloud(env)
	status, doc, _ = urllib_token(c.himds, "/metadata/identity/oauth2/token?api-version=2019-11-01"
				      "&resource=https%3A%2F%2Fvault.azure.net")
	check(status == 200 and doc.get("resource") == "https://vault.azure.net", "urllib token: %d %r" % (status, doc))
	check(verify_jwt(c, doc["access_token"]).get("aud") == "https://vault.azure.net", "aud")


@test(timeout=75)
def certificate_renewed_at_half_life(env):
	c = cloud(env)
	h = c.himds
	crt = os.path.join(h.state_dir, "himds", "machine.crt")
	key = os.path.join(h.state_dir, "himds", "machine.key")
	first_crt, first_key, reloads = c.first_crt, c.first_key, c.reloads
	left = c.registered_at + CERT_LIFETIME / 2 + 10 - time.time()
	check(poll(lambda: read_key(crt) != first_crt, timeout=max(left, 1), interval=0.25),
	      "no renewal %.0fs after registration\n%s" % (time.time() - c.registered_at, h.stderr_tail()))
	check(h.log_has(r"renewal: new machine certificate"), "himds did not log the renewal")
	check(read_key(key) != first_key, "the renewal kept the old key")
	st = os.stat(key)
	check(st.st_mode & 0o777 == 0o640, "renewed key mode %o" % (st.st_mode & 0o777))
	if ROOT:
		check(st.st_gid == grp.getgrnam("arc").gr_gid, "renewed key lost its group arc")
	r = subprocess.run("openssl x509 -in %s -noout -pubkey | cmp - <(openssl pkey -in %s -pubout)" % (crt, key),
			   shell=True, executable="/bin/bash", capture_output=True)
	check(r.returncode == 0, "the new certificate does not belong to the new key")
	check(poll(lambda: len(re.findall("configuration reloaded", c.proxy.stderr_text())) > reloads, timeout=5),
	      "arcproxy was not told to reload\n%s" % h.stderr_tail())
	# Through its admin API, as the himds user (group arc), not with a signal.
	check(c.proxy.log_has(r"identity reload asked by uid %d" % (pwd.getpwnam("himds").pw_uid if ROOT
								      else os.getuid())),
	      "arcproxy was not asked through POST /identity/reload\n%s" % c.proxy.stderr_tail())
	check(h.log_has(r"arcproxy reloaded the machine identity"), "himds did not hear arcproxy's 200")
	# The heartbeats go on with the new certificate, through the gateway.
	renewed = time.time()

	def fresh():
		status, m = c.sim.operator("/operator/machines/" + MACHINE)
		if status != 200 or not m.get("lastHeartbeat"):
			return None
		t = calendar.timegm(time.strptime(m["lastHeartbeat"][:19], "%Y-%m-%dT%H:%M:%S"))
		return t >= int(renewed) and m
	m = poll(fresh, timeout=10, interval=0.25)
	check(m and m["status"] == "Connected", "no heartbeat after the renewal: %r\n%s"
	      % (c.sim.operator("/operator/machines/" + MACHINE), h.stderr_tail()))
	check(h.status_file().get("status") == "Connected", "himds.json after renewal: %r" % h.status_file())
	# Once the first certificate has expired the cloud takes only the new one: the heartbeats
	# go on, so they present it (not the first one, on a connection kept from before).
	expired = c.registered_at + CERT_LIFETIME + 1
	renewed = max(time.time(), expired)
	m = poll(fresh, timeout=max(expired - time.time(), 0) + 10, interval=0.5)
	check(m and m["status"] == "Connected", "no heartbeat after the first certificate expired: %r\n%s"
	      % (c.sim.operator("/operator/machines/" + MACHINE), h.stderr_tail()))


FLOOD = """
import http.client, json, sys

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
counts, retry = {}, None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
for _ in range(n):
	try:
		c.request("GET", path, headers={"Metadata": "true"})
		r = c.getresponse()
		r.read()
	except (OSError, http.client.HTTPException):
		c.close()
		c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
		continue
	counts[r.status] = counts.get(r.status, 0) + 1
	if r.status == 429 and retry is None:
		retry = r.getheader("Retry-After")
	if r.getheader("Connection", "").lower() == "close":
		c.close()
		c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
print(json.dumps({"counts": counts, "retry_after": retry}))
"""


@test(timeout=120)
def challenge_flood_from_one_uid_evicts_nothing(env):
	"""A local loop asking for challenges (as nobody) gets 429 with Retry-After once it holds its
	share of live keys; a key another caller (root) took before the flood still works, and a whole
	challenge round trip from that caller succeeds while the flood's keys are live."""
	if not ROOT:
		raise Skip("needs root to flood as another uid")
	c = cloud(env)
	h = c.himds
	status, hdrs, _ = api(h, TOKEN, MD)
	check(status == 401, "the legitimate caller's challenge: %d" % status)
	key_path = realm_path(hdrs.get("www-authenticate"))
	key = read_key(key_path)
	nobody = pwd.getpwnam("nobody")
	n = 1100	# more than the 1024 keys himds keeps: the old code evicted the oldest
	r = subprocess.run(["python3", "-c", FLOOD, str(h.port), TOKEN, str(n)], capture_output=True, text=True,
			   timeout=100, user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
	check(r.returncode == 0, "the flood: %s" % r.stderr[-400:])
	out = json.loads(r.stdout)
	counts = {int(k): v for k, v in out["counts"].items()}
	check(counts.get(401, 0) <= 64 and counts.get(429, 0) >= n - 64,
	      "a flood of %d challenges from one uid: %r, expected 429s after its share" % (n, counts))
	check(out["retry_after"] and 1 <= int(out["retry_after"]) <= 60,
	      "429 without a Retry-After in 1..60 s: %r" % out["retry_after"])
	check(os.path.exists(key_path), "the flood evicted a live key of another caller")
	status, _, doc = api(h, TOKEN, dict(MD, Authorization="Basic " + key))
	check(status == 200 and "access_token" in doc, "the key taken before the flood: %d %r" % (status, doc))
	status, _, body, _, _ = curl_token(h)
	check(status == 200, "a round trip from another uid after the flood: %d %s" % (status, body[:200]))
