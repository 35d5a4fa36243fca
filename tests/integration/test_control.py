"""cloudsim's control plane (management.cloudsim.test) and its operator API, as cloudsim/API.md specifies.

Expectations:
- A machine registers with curl through arcproxy and the gateway, without a machine certificate
  (management.cloudsim.test:443 is anonymous at the gateway), with a CSR from the openssl CLI: 201
  with a clientAuth certificate, CN = name, from the cloudsim CA, for the CSR's key, and its resource.
- Register refuses: a wrong or missing onboarding token (401), a name already registered (409), a
  CSR whose CN is not the name, a bad name, a body that is not JSON (400), a body over 64 KiB (413);
  each with a JSON error, and cloudsim serves on.
- The other endpoints need the machine's certificate: none -> 401, another machine's -> 403, one the
  control plane did not issue -> 401.
- A heartbeat with the issued certificate shows in the operator API: Connected, lastHeartbeat now.
  A machine that never sent one is Disconnected with lastHeartbeat null.
- The token is a JWT (ES256) whose signature verifies with ca.crt's public key (openssl dgst), with
  iss, sub (vmId), aud (the resource), iat, nbf, exp, xms_mirid (the resource id).
- Renewal answers a certificate for the new key; it and the old one both work.
- DELETE by the machine itself, and by the operator: the gateway refuses the old certificate at
  once (403 machine certificate required), even on arcproxy's established h2 connection and over
  HTTP/1.1, and so does the control plane (401).
- After a restart, the machines, their last heartbeats and the revocations are still there.
- `cloudsim -n` refuses an operator_listen that is not loopback, naming file and line.
"""

import base64
import calendar
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness
import test_cloudsim as tcs
from harness import Conn, check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

TOKEN = "it-onboarding-token-0123456789"
SUBSCRIPTION = "11111111-2222-4333-8444-555555555555"
TENANT = "99999999-8888-4777-8666-555555555555"
HEARTBEAT_S = 60
TOKEN_LIFE_S = 3600
AUDIENCE = "https://management.azure.com/"


class ControlSim(tcs.Sim):
	"""cloudsim with management.cloudsim.test mapped to its control plane."""

	def __init__(self):
		super().__init__()
		self.management = "control"
		self.control = {
			"onboarding_tokens": [TOKEN, "another-token-42"],
			"subscription_id": SUBSCRIPTION,
			"tenant_id": TENANT,
			"resource_group": "arc-it",
			"location": "simland",
			"heartbeat_interval_seconds": HEARTBEAT_S,
			"token_lifetime_seconds": TOKEN_LIFE_S,
		}

	def start(self):
		try:
			self.stderr_file.close()	# a restart opens it again
		except AttributeError:
			pass
		return super().start()


class Env(tcs.Env):
	def __init__(self, sim):
		super().__init__(sim)
		self.anon = None	# arcproxy without a machine certificate (h2 to the gateway)
		self.ids = None		# the machines' keys, CSRs and certificates
		self.machines = {}	# name -> register's answer


def setup():
	sim = ControlSim()
	for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1"),
		     ("pki", os.path.join(sim.base, "other")),
		     ("machine-cert", os.path.join(sim.base, "other"), "rogue")):
		r = sim.run(*args)
		check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
	sim.write_config()
	env = Env(sim.start())
	try:
		env.ids = os.path.join(sim.base, "ids")
		os.mkdir(env.ids)
		os.chmod(env.ids, 0o755)
		env.anon = tcs.arcproxy_via(env, "h2", cert=None, name="ctlanon")
	except BaseException:
		tcs.teardown(env)
		raise
	return env


def teardown(env):
	return tcs.teardown(env)


# --- helpers ------------------------------------------------------------------

def run(*args, input=None):
	p = subprocess.run(list(args), capture_output=True, input=input, timeout=20)
	check(p.returncode == 0, "%s: exit %d: %s" % (" ".join(args), p.returncode,
						     p.stderr.decode(errors="replace").strip()))
	return p.stdout


def key_and_csr(env, name, cn=None):
	"""A new P-256 key and a CSR with CN=cn (default name), by the openssl CLI: (key, csr) paths."""
	key = os.path.join(env.ids, name + ".key")
	csr = os.path.join(env.ids, name + ".csr")
	run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
	    "-keyout", key, "-subj", "/O=it/CN=%s" % (cn or name), "-out", csr)
	os.chmod(key, 0o644)	# arcproxy may run as another user in the tests
	return key, csr


def read(path):
	with open(path) as f:
		return f.read()


def write(path, text):
	with open(path, "w") as f:
		f.write(text)
	os.chmod(path, 0o644)
	return path


def api(env, method, path, body=None, cert=None, raw=None, proxy=None):
	"""method path on management.cloudsim.test through arcproxy: (status, JSON answer).
	cert: a name under env.ids (NAME.crt, NAME.key) presented to the control plane."""
	sim = env.sim
	p = proxy or env.anon
	with tempfile.NamedTemporaryFile("wb", dir=sim.base, delete=False) as f:
		f.write(raw if raw is not None else json.dumps(body if body is not None else {}).encode())
		data = f.name
	args = ["-X", method, "-H", "Content-Type: application/json", "-w", "\n%{http_code}"]
	if method != "DELETE":
		args += ["--data-binary", "@" + data]
	if cert:
		args += ["--cert", os.path.join(env.ids, cert + ".crt"), "--key", os.path.join(env.ids, cert + ".key")]
	r = tcs.curl_via(p, sim, *args, "https://management.cloudsim.test" + path)
	os.unlink(data)
	out = r.stdout.decode(errors="replace")
	check(r.returncode == 0, "curl %s %s: exit %d: %s\n%s" % (method, path, r.returncode,
								r.stderr.decode(errors="replace").strip(), p.stderr_tail(6)))
	text, _, status = out.rpartition("\n")
	try:
		doc = json.loads(text) if text.strip() else None
	except ValueError:
		raise AssertionError("%s %s: %s answered %r, not JSON" % (method, path, status, text[:300]))
	return int(status), doc


def error_code(doc):
	return (doc or {}).get("error", {}).get("code")


def operator(env, method, path):
	"""The operator API (plain HTTP on loopback): (status, JSON)."""
	req = urllib.request.Request("http://127.0.0.1:%d%s" % (env.sim.operator_port, path), method=method)
	try:
		with urllib.request.urlopen(req, timeout=5) as r:
			return r.status, json.loads(r.read() or b"null")
	except urllib.error.HTTPError as e:
		return e.code, json.loads(e.read() or b"null")


def register(env, name, cn=None, token=TOKEN, tags=None):
	key, csr = key_and_csr(env, name, cn)
	body = {"onboardingToken": token, "csr": read(csr), "name": name, "agentVersion": "1.0.0-it"}
	if tags is not None:
		body["tags"] = tags
	status, doc = api(env, "POST", "/machines/register", body)
	if status == 201:
		write(os.path.join(env.ids, name + ".crt"), doc["certificate"])
		env.machines[name] = doc
	return status, doc


def registered(env, name):
	"""name is registered (by this module or now)."""
	if name not in env.machines:
		status, doc = register(env, name)
		check(status == 201, "register %s: %d %r" % (name, status, doc))
	return env.machines[name]


def cert_text(path, *what):
	return run("openssl", "x509", "-in", path, "-noout", *what).decode()


def gateway_refuses(env, name, how="h1"):
	"""CONNECT echo.cloudsim.test:443 with name's certificate right at the gateway (HTTP/1.1)."""
	c, r = tcs.connect(env.sim, "echo.cloudsim.test:443", cert=name, pki=env.ids)
	c.close()
	check(r.status == 403 and "machine certificate required" in tcs.proxy_details(r),
	      "the gateway takes %s's certificate (%s): %r %s" % (name, how, r, r.header("proxy-status")))
	return r


def served(env, what):
	"""cloudsim lives and the control plane answers."""
	tcs.served(env.sim, what)
	status, doc = operator(env, "GET", "/operator/machines")
	check(status == 200 and isinstance(doc, list), "the operator API %s: %d %r" % (what, status, doc))


def b64url(text):
	return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def der_int(b):
	b = b.lstrip(b"\0") or b"\0"
	if b[0] & 0x80:
		b = b"\0" + b
	return b"\x02" + bytes([len(b)]) + b


def ecdsa_der(raw):
	"""JWS's r||s (32 bytes each) as the DER ECDSA-Sig-Value openssl dgst reads."""
	body = der_int(raw[:32]) + der_int(raw[32:])
	return b"\x30" + bytes([len(body)]) + body


# --- tests ----------------------------------------------------------------------

@test
def register_through_the_gateway(env):
	sim = env.sim
	status, doc = register(env, "m1", tags={"env": "it", "team": "arc"})
	check(status == 201, "register m1 through arcproxy and the gateway: %d %r\n%s" % (status, doc, sim.stderr_tail(6)))
	res = doc["resource"]
	want_id = ("/subscriptions/%s/resourceGroups/arc-it/providers/Microsoft.HybridCompute/machines/m1"
		   % SUBSCRIPTION)
	check(res["resourceId"] == want_id and res["name"] == "m1" and res["subscriptionId"] == SUBSCRIPTION and
	      res["resourceGroupName"] == "arc-it" and res["tenantId"] == TENANT and res["location"] == "simland" and
	      res["tags"] == {"env": "it", "team": "arc"}, "the resource: %r" % res)
	check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", res["vmId"]),
	      "vmId %r is not a UUID" % res["vmId"])
	check(doc["heartbeatIntervalSeconds"] == HEARTBEAT_S, "heartbeatIntervalSeconds %r" % doc)
	crt = os.path.join(env.ids, "m1.crt")
	check("CN = m1" in cert_text(crt, "-subject"), "subject: %s" % cert_text(crt, "-subject"))
	check("TLS Web Client Authentication" in cert_text(crt, "-ext", "extendedKeyUsage"), "no clientAuth")
	out = subprocess.run(["openssl", "verify", "-purpose", "sslclient", "-CAfile", sim.file("ca.crt"), crt],
			     capture_output=True, text=True)
	check(out.returncode == 0, "the certificate does not chain to ca.crt: %s" % out.stdout + out.stderr)
	pub_cert = run("openssl", "x509", "-in", crt, "-noout", "-pubkey")
	pub_key = run("openssl", "pkey", "-in", os.path.join(env.ids, "m1.key"), "-pubout")
	check(pub_cert == pub_key, "the certificate is not for the CSR's key")
	check(sim.log_has(r"connect management\.cloudsim\.test:443 machine=- .*status=200 .*proto=h2"),
	      "the registration did not go through the gateway anonymously\n" + sim.stderr_tail(8))
	check(sim.log_has(r"control \S+ POST /machines/register 201 .*machine m1 registered"),
	      "no log line for the registration")
	status, doc = register(env, "m1b", token="another-token-42")
	check(status == 201, "register with the second configured token: %d %r" % (status, doc))
	check(doc["resource"]["location"] == "simland" and doc["resource"]["tags"] == {},
	      "defaults for location and tags: %r" % doc["resource"])


@test
def register_refusals(env):
	registered(env, "m1")
	_, csr = key_and_csr(env, "refused")
	good = {"onboardingToken": TOKEN, "csr": read(csr), "name": "refused", "agentVersion": "1"}
	cases = [
		("a wrong token", dict(good, onboardingToken="not-the-token"), 401, "InvalidOnboardingToken"),
		("no token", {k: v for k, v in good.items() if k != "onboardingToken"}, 401, "InvalidOnboardingToken"),
		("a name in use", dict(good, name="m1", csr=read(key_and_csr(env, "dup", "m1")[1])), 409, "MachineExists"),
		("a CSR for another name", dict(good, name="other"), 400, "InvalidCsr"),
		("a broken CSR", dict(good, csr="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
					       "-----END CERTIFICATE REQUEST-----\n"), 400, "InvalidCsr"),
		("no CSR", {k: v for k, v in good.items() if k != "csr"}, 400, "InvalidCsr"),
		("a bad name", dict(good, name="../etc"), 400, "InvalidMachineName"),
		("a name too long", dict(good, name="a" * 64), 400, "InvalidMachineName"),
		("bad tags", dict(good, tags=["x"]), 400, "InvalidTags"),
		("a bad location", dict(good, location="west europe"), 400, "InvalidLocation"),
		("a number for a name", dict(good, name=7), 400, "InvalidMachineName"),
	]
	for what, body, status, code in cases:
		got, doc = api(env, "POST", "/machines/register", body)
		check(got == status and error_code(doc) == code and doc["error"].get("message"),
		      "register with %s: %d %r, expected %d %s" % (what, got, doc, status, code))
	for what, raw, status, code in [("a body that is not JSON", b"{\"name\": ", 400, "InvalidJson"),
					 ("a JSON array", b"[1, 2]", 400, "InvalidJson"),
					 ("an empty body", b"", 400, "InvalidJson"),
					 ("a 100 KiB body", b"{\"x\": \"" + b"a" * 100000 + b"\"}", 413,
					  "PayloadTooLarge")]:
		got, doc = api(env, "POST", "/machines/register", raw=raw)
		check(got == status and error_code(doc) == code, "register with %s: %d %r" % (what, got, doc))
	got, doc = api(env, "GET", "/machines/register")
	check(got == 405 and error_code(doc) == "MethodNotAllowed", "GET /machines/register: %d %r" % (got, doc))
	got, doc = api(env, "POST", "/nowhere", {})
	check(got == 404 and error_code(doc) == "NotFound", "POST /nowhere: %d %r" % (got, doc))
	status, doc = operator(env, "GET", "/operator/machines/refused")
	check(status == 404, "a refused registration left a machine behind: %d %r" % (status, doc))
	served(env, "after refused registrations")


@test
def heartbeat_shows_connected(env):
	registered(env, "m1")
	registered(env, "m1b")
	status, view = operator(env, "GET", "/operator/machines/m1b")
	check(status == 200 and view["status"] == "Disconnected" and view["lastHeartbeat"] is None,
	      "a machine without a heartbeat: %d %r" % (status, view))
	before = time.time()
	status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected", "agentVersion": "1.2.3",
								"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
			  cert="m1")
	check(status == 200 and doc["heartbeatIntervalSeconds"] == HEARTBEAT_S, "heartbeat: %d %r" % (status, doc))
	server = calendar.timegm(time.strptime(doc["serverTime"], "%Y-%m-%dT%H:%M:%SZ"))
	check(abs(server - before) < 5, "serverTime %s is not now" % doc["serverTime"])
	status, view = operator(env, "GET", "/operator/machines/m1")
	check(status == 200, "GET /operator/machines/m1: %d %r" % (status, view))
	check(view["status"] == "Connected" and view["lastHeartbeat"] == doc["serverTime"] and
	      view["agentVersion"] == "1.2.3" and view["vmId"] == env.machines["m1"]["resource"]["vmId"] and
	      view["resourceId"] == env.machines["m1"]["resource"]["resourceId"] and view["certificateNotAfter"],
	      "the operator's view after a heartbeat: %r" % view)
	status, machines = operator(env, "GET", "/operator/machines")
	names = [m["name"] for m in machines]
	check(status == 200 and "m1" in names and "m1b" in names, "the operator's list: %d %r" % (status, machines))
	check(set(machines[0]) == {"name", "resourceId", "vmId", "status", "lastHeartbeat", "agentVersion",
				   "certificateNotAfter"}, "the fields of a listed machine: %r" % machines[0])
	status, doc = operator(env, "GET", "/operator/machines/nosuch")
	check(status == 404 and error_code(doc) == "NotFound", "an unknown machine: %d %r" % (status, doc))
	status, doc = operator(env, "POST", "/operator/machines")
	check(status == 405, "POST to the operator's list: %d %r" % (status, doc))


@test
def token_verifies_with_the_ca_key(env):
	sim = env.sim
	m1 = registered(env, "m1")
	t0 = int(time.time())
	status, doc = api(env, "POST", "/machines/m1/token", {"resource": AUDIENCE}, cert="m1")
	check(status == 200, "token: %d %r" % (status, doc))
	check(doc["token_type"] == "Bearer" and doc["resource"] == AUDIENCE and
	      isinstance(doc["expires_on"], str) and doc["expires_in"] == str(TOKEN_LIFE_S),
	      "the token answer: %r" % {k: v for k, v in doc.items() if k != "access_token"})
	head_b64, claims_b64, sig_b64 = doc["access_token"].split(".")
	head = json.loads(b64url(head_b64))
	claims = json.loads(b64url(claims_b64))
	check(head == {"alg": "ES256", "typ": "JWT"}, "JWT header %r" % head)
	res = m1["resource"]
	check(claims["iss"] == "https://login.cloudsim.test/%s/" % TENANT and claims["sub"] == res["vmId"] and
	      claims["aud"] == AUDIENCE and claims["xms_mirid"] == res["resourceId"], "claims %r" % claims)
	check(abs(claims["iat"] - t0) <= 5 and claims["nbf"] == claims["iat"] and
	      claims["exp"] == claims["iat"] + TOKEN_LIFE_S and doc["expires_on"] == str(claims["exp"]),
	      "times in the claims %r (expires_on %s)" % (claims, doc["expires_on"]))
	raw = b64url(sig_b64)
	check(len(raw) == 64, "an ES256 signature has 64 bytes, not %d" % len(raw))
	d = tempfile.mkdtemp(dir=sim.base)
	pub = write(os.path.join(d, "ca.pub"), run("openssl", "x509", "-in", sim.file("ca.crt"), "-noout",
						   "-pubkey").decode())
	data = os.path.join(d, "signed")
	with open(data, "wb") as f:
		f.write((head_b64 + "." + claims_b64).encode())
	sig = os.path.join(d, "sig.der")
	with open(sig, "wb") as f:
		f.write(ecdsa_der(raw))
	out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data],
			     capture_output=True, text=True)
	check(out.returncode == 0 and "Verified OK" in out.stdout, "the JWT does not verify with ca.crt's key: %s %s"
	      % (out.stdout, out.stderr))
	with open(data, "wb") as f:
		f.write((head_b64 + "." + claims_b64 + "x").encode())
	out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data],
			     capture_output=True, text=True)
	check(out.returncode != 0, "a changed token still verifies")
	for body, what in (({}, "no resource"), ({"resource": ""}, "an empty resource"),
			   ({"resource": 5}, "a number")):
		status, doc = api(env, "POST", "/machines/m1/token", body, cert="m1")
		check(status == 400, "token with %s: %d %r" % (what, status, doc))


@test
def endpoints_need_the_machine_certificate(env):
	sim = env.sim
	registered(env, "m1")
	registered(env, "m1b")
	status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected"})
	check(status == 401 and error_code(doc) == "CertificateRequired", "heartbeat without a certificate: %d %r"
	      % (status, doc))
	status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected"}, cert="m1b")
	check(status == 403 and error_code(doc) == "Forbidden", "heartbeat for m1 with m1b's certificate: %d %r"
	      % (status, doc))
	status, doc = api(env, "DELETE", "/machines/m1", cert="m1b")
	check(status == 403, "DELETE m1 with m1b's certificate: %d %r" % (status, doc))
	# CN=m1 from the CA, but not issued by the control plane (cloudsim machine-cert).
	for ext in ("crt", "key"):
		shutil.copy(sim.file("m1." + ext), os.path.join(env.ids, "tool-m1." + ext))
	status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected"}, cert="tool-m1")
	check(status == 401 and error_code(doc) == "CertificateNotRecognized",
	      "heartbeat with a CN=m1 certificate the control plane did not issue: %d %r" % (status, doc))
	other = os.path.join(sim.base, "other")
	for ext in ("crt", "key"):
		shutil.copy(os.path.join(other, "rogue." + ext), os.path.join(env.ids, "rogue." + ext))
	status, doc = api(env, "POST", "/machines/rogue/heartbeat", {}, cert="rogue")
	check(status == 401, "heartbeat with another CA's certificate: %d %r" % (status, doc))
	status, doc = api(env, "POST", "/machines/m1/heartbeat", raw=b"not json", cert="m1")
	check(status == 400 and error_code(doc) == "InvalidJson", "heartbeat with a body that is not JSON: %d %r"
	      % (status, doc))
	status, doc = operator(env, "GET", "/operator/machines/m1")
	check(status == 200, "m1 after refused requests: %d %r" % (status, doc))


@test
def renewal_returns_a_certificate_for_the_new_key(env):
	registered(env, "m1")
	key, csr = key_and_csr(env, "m1-new", "m1")
	status, doc = api(env, "POST", "/machines/m1/certificate", {"csr": read(csr)}, cert="m1")
	check(status == 200 and "certificate" in doc, "renewal: %d %r" % (status, doc))
	crt = write(os.path.join(env.ids, "m1-new.crt"), doc["certificate"])
	check(run("openssl", "x509", "-in", crt, "-noout", "-pubkey") == run("openssl", "pkey", "-in", key, "-pubout"),
	      "the renewed certificate is not for the new key")
	check(cert_text(crt, "-serial") != cert_text(os.path.join(env.ids, "m1.crt"), "-serial"),
	      "the renewal has the old serial")
	check("CN = m1" in cert_text(crt, "-subject"), "renewed subject %s" % cert_text(crt, "-subject"))
	for cert in ("m1-new", "m1"):
		status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected"}, cert=cert)
		check(status == 200, "heartbeat with the %s certificate after renewal: %d %r" % (cert, status, doc))
	_, csr = key_and_csr(env, "m1-wrong", "m2")
	status, doc = api(env, "POST", "/machines/m1/certificate", {"csr": read(csr)}, cert="m1")
	check(status == 400 and error_code(doc) == "InvalidCsr", "renewal with CN=m2: %d %r" % (status, doc))


@test(timeout=40)
def machine_delete_revokes_at_once(env):
	sim = env.sim
	registered(env, "m3")
	p = tcs.arcproxy_via(env, "h2", cert="m3", pki=env.ids, name="ctlm3")
	r = tcs.curl_via(p, sim, "-o", "-", "https://echo.cloudsim.test/bytes/100")
	check(r.returncode == 0 and r.stdout == tcs.pattern(100), "m3's tunnel to echo before DELETE: exit %d %s\n%s"
	      % (r.returncode, r.stderr.decode(errors="replace"), p.stderr_tail(6)))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m3 .*status=200 .*proto=h2"),
	      "m3's tunnel is not logged with its identity")
	# The machine deletes itself through its own arcproxy (as azcmagent disconnect does).
	status, doc = api(env, "DELETE", "/machines/m3", cert="m3", proxy=p)
	check(status == 200 and doc == {"name": "m3", "revokedCertificates": 1}, "DELETE /machines/m3: %d %r"
	      % (status, doc))
	# At once, on arcproxy's established HTTP/2 connection to the gateway:
	with Conn(p.port, 10) as c:
		r = c.connect_tunnel("echo.cloudsim.test:443")
	check(r.status == 403 and "machine certificate required" in tcs.proxy_details(r),
	      "CONNECT with m3's identity after DELETE (h2): %r %r" % (r, r.header("proxy-status")))
	check(sim.log_has(r"connect echo\.cloudsim\.test:443 machine=m3 .*status=403 .*proto=h2 .*revoked"),
	      "the refusal does not say the certificate is revoked\n" + sim.stderr_tail(5))
	gateway_refuses(env, "m3", "a new HTTP/1.1 connection")
	check(sim.log_has(r"certificate not recognised: serial [0-9A-F]+ of machine m3 is revoked"),
	      "the handshake does not log the revoked certificate")
	status, doc = api(env, "POST", "/machines/m3/heartbeat", {"status": "Connected"}, cert="m3")
	check(status == 401 and error_code(doc) == "CertificateRevoked", "heartbeat after DELETE: %d %r"
	      % (status, doc))
	status, doc = operator(env, "GET", "/operator/machines/m3")
	check(status == 404, "m3 in the operator API after DELETE: %d %r" % (status, doc))
	# The name is free again, with a new certificate; the old one stays revoked.
	del env.machines["m3"]
	status, doc = register(env, "m3")
	check(status == 201, "register m3 again: %d %r" % (status, doc))
	status, doc = api(env, "POST", "/machines/m3/heartbeat", {"status": "Connected"}, cert="m3")
	check(status == 200, "the new m3's heartbeat: %d %r" % (status, doc))


@test
def operator_delete_revokes_at_once(env):
	sim = env.sim
	registered(env, "m4")
	c, r = tcs.connect(sim, "echo.cloudsim.test:443", cert="m4", pki=env.ids)
	c.close()
	check(r.status == 200, "CONNECT with m4's certificate before the operator's DELETE: %r" % r)
	status, doc = operator(env, "DELETE", "/operator/machines/m4")
	check(status == 200 and doc["revokedCertificates"] == 1, "operator DELETE m4: %d %r" % (status, doc))
	gateway_refuses(env, "m4", "after the operator's DELETE")
	status, doc = api(env, "POST", "/machines/m4/token", {"resource": AUDIENCE}, cert="m4")
	check(status == 401 and error_code(doc) == "CertificateRevoked", "token after the operator's DELETE: %d %r"
	      % (status, doc))
	status, doc = operator(env, "DELETE", "/operator/machines/m4")
	check(status == 404, "DELETE m4 twice: %d %r" % (status, doc))
	check(sim.log_has(r"machine m4 deleted by the operator: 1 certificate revoked"), "no log line for the DELETE")
	env.machines.pop("m4", None)


@test
def bad_requests_get_precise_answers(env):
	sim = env.sim
	with Conn(sim.operator_port, 5) as c:
		c.send(b"GARBAGE\r\n\r\n")
		r = c.read_response()
	check(r.status == 400 and r.json()["error"]["code"] == "InvalidRequest", "garbage to the operator API: %r" % r)
	with Conn(sim.operator_port, 5) as c:
		c.request("GET", "/operator/machines", [("X-Pad", "a" * 20000)], host="127.0.0.1")
		r = c.read_response()
	check(r.status == 431, "a 20 KB head to the operator API: %r" % r)
	with Conn(sim.operator_port, 5) as c:
		for _ in range(3):	# keep-alive
			c.request("GET", "/operator/machines", host="127.0.0.1")
			r = c.read_response()
			check(r.status == 200 and isinstance(r.json(), list), "keep-alive on the operator API: %r" % r)
	with Conn(sim.control_port, 5) as c:
		c.send(b"GET / HTTP/1.1\r\n\r\n")	# no TLS
		check(c.at_eof(), "plain HTTP to the control plane's TLS port is not closed")
	check(sim.log_has(r"control 127\.0\.0\.1:\d+: TLS handshake failed"), "the failed handshake is not logged")
	served(env, "after bad requests")


@test(timeout=40)
def state_survives_a_restart(env):
	sim = env.sim
	registered(env, "m1")
	status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected"}, cert="m1")
	check(status == 200, "heartbeat before the restart: %d %r" % (status, doc))
	_, before = operator(env, "GET", "/operator/machines")
	# A revoked certificate to check after the restart.
	registered(env, "m5")
	shutil.copy(os.path.join(env.ids, "m5.crt"), os.path.join(env.ids, "m5-old.crt"))
	shutil.copy(os.path.join(env.ids, "m5.key"), os.path.join(env.ids, "m5-old.key"))
	status, _ = operator(env, "DELETE", "/operator/machines/m5")
	check(status == 200, "operator DELETE m5: %d" % status)
	env.machines.pop("m5", None)
	state = os.path.join(sim.state_dir, "control.json")
	doc = json.loads(read(state))
	check(any(m["name"] == "m1" for m in doc["machines"]) and doc["revoked"], "control.json: %r" % doc)
	rc = sim.stop()
	check(rc == 0, "cloudsim exited %s on SIGTERM\n%s" % (rc, sim.stderr_tail()))
	rep = sim.sanitizer_report()
	check(rep is None, "sanitizer: %s\n%s" % (rep, sim.stderr_tail(40)))
	sim.start()
	_, after = operator(env, "GET", "/operator/machines")
	check(after == before, "the operator's list changed across a restart:\nbefore %r\nafter  %r" % (before, after))
	m1 = [m for m in after if m["name"] == "m1"][0]
	check(m1["status"] == "Connected" and m1["lastHeartbeat"], "m1 after the restart: %r" % m1)
	# arcproxy finds the gateway again (its HTTP/2 connection ended with the restart).
	deadline = time.monotonic() + 15
	while True:
		try:
			status, doc = api(env, "POST", "/machines/m1/heartbeat", {"status": "Connected"}, cert="m1")
			break
		except AssertionError:
			if time.monotonic() > deadline:
				raise
			time.sleep(0.2)
	check(status == 200, "m1's heartbeat after the restart: %d %r" % (status, doc))
	status, doc = api(env, "POST", "/machines/m5/heartbeat", {}, cert="m5-old")
	check(status == 401 and error_code(doc) == "CertificateRevoked", "a revoked certificate after the restart: "
	      "%d %r" % (status, doc))
	gateway_refuses(env, "m5-old", "after the restart")
	status, doc = register(env, "m1")
	check(status == 409, "register m1 again after the restart: %d %r" % (status, doc))


@test
def operator_listen_is_loopback_only(env):
	sim = env.sim
	d = tempfile.mkdtemp(dir=sim.base)
	os.chmod(d, 0o755)
	for addr in ("0.0.0.0:8447", "[::]:8447", "192.0.2.1:8447"):
		sim.write_config(conf_dir=d, text='pki_dir = "%s";\ncontrol = {\n  listen = "127.0.0.1:1";\n'
				 '  operator_listen = "%s";\n};\n' % (sim.pki, addr))
		r = sim.run("-n", "--config-dir", d)
		check(r.returncode != 0 and re.search(r"cloudsim\.conf:4:.*loopback", r.stderr),
		      "-n with operator_listen %s: exit %d %r" % (addr, r.returncode, r.stderr))
	sim.write_config(conf_dir=d, text='pki_dir = "%s";\ncontrol = {\n  operator_listen = "[::1]:8447";\n'
			 '  heartbeat_interval_seconds = 0;\n};\n' % sim.pki)
	r = sim.run("-n", "--config-dir", d)
	check(r.returncode != 0 and re.search(r"cloudsim\.conf:4:.*heartbeat_interval_seconds", r.stderr),
	      "-n with heartbeat_interval_seconds = 0: exit %d %r" % (r.returncode, r.stderr))
	r = sim.run("-n", "--config-dir", sim.conf_dir)
	check(r.returncode == 0 and "configuration OK" in r.stdout, "-n on the running config: %d %r"
	      % (r.returncode, r.stderr))
