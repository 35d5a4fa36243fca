"""cloudsim's side of extensions: the package store, ext-pack, and the extension rows of the operator
API and the control plane, as cloudsim/API.md specifies; every call through arcproxy and the gateway.

Expectations:
- packages.cloudsim.test serves what `cloudsim ext-pack` wrote, through arcproxy and the gateway
  (with the machine certificate): the whole zip matches the catalog's SHA-256 and size; a download
  cut short resumes with curl -C - (Range, 206) to the same bytes; HEAD gives Content-Length, ETag,
  Accept-Ranges; a range past the end gets 416 with Content-Range: bytes */size; a missing file,
  a symlink in the store and a name with a character outside [A-Za-z0-9._-] are not served.
- ext-pack's signature verifies with `openssl cms -verify` against pkgsign-ca.crt, signed by a
  codeSigning certificate with CN = the publisher; what it signed (its content, of content type
  2.25.130023046045524240137163432541421895587) is the statement naming the package:
  {"signingInfo": {"kind": "extension", "publisher", "type", "version"}, "sha256", "size"} with the
  catalog's values, in that order and without white space; packing twice gives the same bytes.
- register hands out pkgsign-ca.crt as packageSigningCertificates.
- The operator's PUT/GET/DELETE round trip: 201 then 200, sequenceNumber 0, 1, 2, goalStateSeq
  bumped on each, the machine's GET shows the package (url, signatureUrl, sha256, size), DELETE makes
  it "absent", and the machine's successful Uninstall report removes it.
- A machine registers its own settings certificate (the thumbprint is the SHA-1 of its DER, as
  openssl prints it) and gets protectedSettings that `openssl cms -decrypt` turns back into the
  JSON the operator PUT; without a certificate the GET is 409 NoSettingsCertificate.
- Bad inputs each get a precise status and code (400, 403, 404, 409), and cloudsim serves on.
- After a restart the extensions, their status, the settings certificate and goalStateSeq are
  still there; extensions.json is 0600 (protected settings are kept in clear).
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import time
import zipfile

import fixtures
import test_control as tc
from harness import check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

PUB = "Cloudsim.Samples"
TYPE = "HelloIt"
BIG = 3 * 1024 * 1024 + 123		# bytes of random data in the big package


class Env(tc.Env):
	def __init__(self, sim):
		super().__init__(sim)
		self.gwp = None		# arcproxy with the machine certificate m1 (the package store needs one)
		self.packages = None	# the store's directory
		self.hdir = None	# handlers to pack


def pack(env, version, publisher=PUB, type_=TYPE, hdir=None, out=None):
	"""cloudsim ext-pack into the store: the catalog entry."""
	sim = env.sim
	out = out or env.packages
	r = sim.run("ext-pack", hdir or env.hdir, "--publisher", publisher, "--type", type_,
		    "--version", version, "-o", out, "--pki", sim.pki)
	check(r.returncode == 0, "ext-pack %s: exit %d: %s" % (version, r.returncode, r.stderr.strip()))
	with open(os.path.join(out, "%s.%s-%s.json" % (publisher, type_, version))) as f:
		return json.load(f)


def setup():
	sim = tc.ControlSim()
	for args in (("pki", sim.pki), ("machine-cert", sim.pki, "m1")):
		r = sim.run(*args)
		check(r.returncode == 0, "cloudsim %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
	sim.write_config()
	env = Env(sim)
	env.packages = os.path.join(sim.state_dir, "packages")
	env.hdir = os.path.join(sim.base, "handler")
	os.makedirs(os.path.join(env.hdir, "bin"))
	with open(os.path.join(env.hdir, "HandlerManifest.json"), "w") as f:
		json.dump([{"version": 1.0, "handlerManifest": {"installCommand": "bin/run.sh install",
								 "enableCommand": "bin/run.sh enable"}}], f)
	with open(os.path.join(env.hdir, "bin", "run.sh"), "w") as f:
		f.write("#!/bin/sh\necho \"$1\"\n")
	os.chmod(os.path.join(env.hdir, "bin", "run.sh"), 0o755)
	with open(os.path.join(env.hdir, "data.bin"), "wb") as f:
		f.write(os.urandom(BIG))
	for d in (sim.base, env.hdir, os.path.join(env.hdir, "bin")):
		os.chmod(d, 0o755)
	for f in ("HandlerManifest.json", "data.bin"):
		os.chmod(os.path.join(env.hdir, f), 0o644)
	for v in ("1.0", "1.1"):
		pack(env, v)
	sim.start()
	try:
		env.ids = os.path.join(sim.base, "ids")
		os.mkdir(env.ids)
		os.chmod(env.ids, 0o755)
		env.anon = fixtures.arcproxy_via(env, "h2", cert=None, name="extanon")
		env.gwp = fixtures.arcproxy_via(env, "h2", cert="m1", name="extm1")
	except BaseException:
		fixtures.stop_cloudsim_env(env)
		raise
	return env


def teardown(env):
	return fixtures.stop_cloudsim_env(env)


# --- helpers ------------------------------------------------------------------

def package_url(name):
	return "https://packages.cloudsim.test/packages/" + name


def fetch(env, *args):
	"""curl through arcproxy (machine certificate m1 at the gateway): the CompletedProcess."""
	return fixtures.curl_via(env.gwp, env.sim, *args)


def sha256_file(path):
	h = hashlib.sha256()
	with open(path, "rb") as f:
		for block in iter(lambda: f.read(1 << 20), b""):
			h.update(block)
	return h.hexdigest()


def headers_of(text):
	"""The last response head of curl -i/-D output: (status, {lower-case name: value})."""
	heads = [h for h in re.split(r"\r\n\r\n", text) if h.startswith("HTTP/")]
	lines = heads[-1].split("\r\n")
	status = int(lines[0].split()[1])
	return status, {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}


def settings_identity(env, name):
	"""A settings key pair and self-signed certificate made as extmgr makes them: (key, crt)."""
	key = os.path.join(env.ids, name + "-settings.key")
	crt = os.path.join(env.ids, name + "-settings.crt")
	tc.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
	       "-keyout", key, "-out", crt, "-subj", "/CN=%s settings" % name, "-days", "30")
	return key, crt


def thumbprint(crt):
	out = tc.run("openssl", "x509", "-in", crt, "-noout", "-fingerprint", "-sha1").decode()
	return out.strip().split("=", 1)[1].replace(":", "").upper()


def ext_body(version="1.0", **more):
	body = {"publisher": PUB, "type": TYPE, "version": version}
	body.update(more)
	return body


def op(env, method, path, body=None, raw=None):
	"""The operator API through urllib: (status, JSON)."""
	import urllib.error
	import urllib.request
	data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
	req = urllib.request.Request("http://127.0.0.1:%d%s" % (env.sim.operator_port, path), data=data,
				     method=method, headers={"Content-Type": "application/json"})
	try:
		with urllib.request.urlopen(req, timeout=5) as r:
			return r.status, json.loads(r.read() or b"null")
	except urllib.error.HTTPError as e:
		return e.code, json.loads(e.read() or b"null")


def goal(env, name):
	status, doc = tc.api(env, "GET", "/machines/%s/extensions" % name, cert=name)
	check(status == 200, "GET /machines/%s/extensions: %d %r" % (name, status, doc))
	return doc


def report(env, name, ext, seq, operation, status="success", version="1.0", **more):
	body = {"sequenceNumber": seq, "version": version, "operation": operation, "status": status,
		"code": 0, "message": "%s %s" % (operation, status), "handlerState": "Enabled"}
	body.update(more)
	return tc.api(env, "PUT", "/machines/%s/extensions/%s/status" % (name, ext), body, cert=name)


# --- the package store ----------------------------------------------------------

@test(timeout=60)
def range_download_resumes(env):
	sim = env.sim
	entry = pack(env, "1.0")
	name = entry["file"]
	whole = os.path.join(sim.base, "whole.zip")
	r = fetch(env, "-o", whole, package_url(name))
	check(r.returncode == 0, "GET %s: exit %d: %s\n%s" % (name, r.returncode, r.stderr.decode(errors="replace"),
								env.gwp.stderr_tail(6)))
	check(os.path.getsize(whole) == entry["size"] and sha256_file(whole) == entry["sha256"],
	      "the package is not what the catalog says: %d bytes, sha256 %s; catalog %r"
	      % (os.path.getsize(whole), sha256_file(whole), entry))
	check(sim.log_has(r"connect packages\.cloudsim\.test:443 machine=m1 .*status=200 .*proto=h2"),
	      "the download did not go through the gateway with the machine's identity\n" + sim.stderr_tail(8))
	# A download cut at 1 MiB, then resumed where it stopped.
	part = os.path.join(sim.base, "part.zip")
	r = fetch(env, "-r", "0-1048575", "-o", part, package_url(name))
	check(r.returncode == 0 and os.path.getsize(part) == 1048576, "the first MiB: exit %d, %d bytes"
	      % (r.returncode, os.path.getsize(part) if os.path.exists(part) else -1))
	r = fetch(env, "-C", "-", "-D", "-", "-o", part, package_url(name))
	check(r.returncode == 0, "resume: exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
	status, h = headers_of(r.stdout.decode(errors="replace"))
	check(status == 206 and h.get("content-range") == "bytes 1048576-%d/%d" % (entry["size"] - 1, entry["size"]),
	      "the resumed request: %d %r" % (status, h))
	check(sha256_file(part) == entry["sha256"], "the resumed download differs from the package")
	# HEAD, and a range past the end.
	r = fetch(env, "-I", package_url(name))
	status, h = headers_of(r.stdout.decode(errors="replace"))
	check(status == 200 and h.get("content-length") == str(entry["size"]) and h.get("accept-ranges") == "bytes"
	      and re.fullmatch(r'"[0-9a-f-]+"', h.get("etag", "")) and h.get("content-type") == "application/zip",
	      "HEAD: %d %r" % (status, h))
	r = fetch(env, "-r", "%d-" % entry["size"], "-D", "-", "-o", os.devnull, package_url(name))
	status, h = headers_of(r.stdout.decode(errors="replace"))
	check(status == 416 and h.get("content-range") == "bytes */%d" % entry["size"],
	      "a range past the end: %d %r" % (status, h))
	# If-Range with another ETag: the whole file, not the range.
	r = fetch(env, "-r", "0-9", "-H", 'If-Range: "stale"', "-D", "-", "-o", os.devnull, package_url(name))
	status, h = headers_of(r.stdout.decode(errors="replace"))
	check(status == 200 and h.get("content-length") == str(entry["size"]), "If-Range with a stale ETag: %d %r"
	      % (status, h))


@test
def store_serves_only_its_files(env):
	sim = env.sim
	os.symlink(sim.file("ca.key"), os.path.join(env.packages, "escape.zip"))
	for path, want in (("missing.zip", 404), ("escape.zip", 404), ("a%20b.zip", 400), ("%2e%2e", 400),
			   (".hidden", 400)):
		r = fetch(env, "-o", os.devnull, "-w", "%{http_code}", package_url(path))
		got = r.stdout.decode().strip()
		check(got == str(want), "GET /packages/%s: %s, expected %d" % (path, got, want))
	r = fetch(env, "-X", "POST", "-o", os.devnull, "-w", "%{http_code}", package_url("x.zip"))
	check(r.stdout.decode().strip() == "405", "POST: %s" % r.stdout)
	fixtures.served(sim, "after the store's refusals")


# --- ext-pack and the signing PKI -------------------------------------------------

@test
def ext_pack_signature_verifies(env):
	sim = env.sim
	entry = pack(env, "1.0")
	zip_path = os.path.join(env.packages, entry["file"])
	sig_path = os.path.join(env.packages, entry["signature"])
	signer = os.path.join(sim.base, "signer.pem")
	statement = os.path.join(sim.base, "statement.json")
	r = fixtures.openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", sig_path,
			     "-CAfile", sim.file("pkgsign-ca.crt"), "-purpose", "any", "-signer", signer,
			     "-out", statement)
	check(r.returncode == 0, "the signature does not verify: %s" % (r.stdout + r.stderr))
	with open(statement, "rb") as f:
		text = f.read()
	want = {"signingInfo": {"kind": "extension", "publisher": PUB, "type": TYPE, "version": "1.0"},
		"sha256": entry["sha256"], "size": entry["size"]}
	check(text == json.dumps(want, separators=(",", ":")).encode(), "the signed statement: %r" % text)
	with open(zip_path, "rb") as f:
		check(hashlib.sha256(f.read()).hexdigest() == entry["sha256"], "the statement's digest is not the zip's")
	r = fixtures.openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", sig_path)
	check("eContentType: undefined (2.25.130023046045524240137163432541421895587)" in r.stdout,
	      "the signature's content type: %s" % r.stdout[:600])
	text = tc.cert_text(signer, "-subject", "-ext", "extendedKeyUsage")
	check("CN = %s" % PUB in text and "Code Signing" in text, "the signer: %s" % text)
	r = fixtures.openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", sig_path,
			     "-CAfile", sim.file("ca.crt"), "-purpose", "any", "-out", os.devnull)
	check(r.returncode != 0, "the signature verifies against the TLS CA too")
	again = os.path.join(sim.base, "again")
	pack(env, "1.0", out=again)
	with open(zip_path, "rb") as a, open(os.path.join(again, entry["file"]), "rb") as b:
		check(a.read() == b.read(), "packing the same handler twice gave different zips")
	with zipfile.ZipFile(zip_path) as z:
		listing = z.namelist()
		modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
		check(z.testzip() is None, "a bad CRC in the zip")
	check(listing == sorted(listing) and "HandlerManifest.json" in listing and "bin/run.sh" in listing,
	      "the zip's entries: %r" % listing)
	check(modes["bin/run.sh"] & 0o777 == 0o755 and modes["HandlerManifest.json"] & 0o777 == 0o644,
	      "the entries' modes: %r" % {k: oct(v) for k, v in modes.items()})
	r = sim.run("publisher-cert", sim.pki, "Bad/Name")
	check(r.returncode != 0 and "publisher" in r.stderr, "publisher-cert Bad/Name: %d %r" % (r.returncode, r.stderr))


@test
def register_hands_out_the_signing_ca(env):
	doc = tc.registered(env, "e0")
	with open(env.sim.file("pkgsign-ca.crt")) as f:
		check(doc.get("packageSigningCertificates") == f.read(), "packageSigningCertificates: %r"
		      % doc.get("packageSigningCertificates"))


# --- the extension rows -----------------------------------------------------------

@test(timeout=60)
def operator_round_trip(env):
	tc.registered(env, "e1")
	entry = pack(env, "1.0")
	status, doc = op(env, "PUT", "/operator/machines/e1/extensions/hello", ext_body(publicSettings={"n": 1}))
	check(status == 201 and doc["sequenceNumber"] == 0 and doc["desiredState"] == "present" and
	      doc["status"] is None and doc["name"] == "hello", "the first PUT: %d %r" % (status, doc))
	g1 = goal(env, "e1")
	ext = g1["extensions"][0]
	check(ext["package"] == {"url": package_url(entry["file"]), "signatureUrl": package_url(entry["signature"]),
				 "sha256": entry["sha256"], "size": entry["size"]} and ext["publicSettings"] == {"n": 1}
	      and "protectedSettings" not in ext and ext["sequenceNumber"] == 0, "the goal state: %r" % g1)
	status, doc = op(env, "PUT", "/operator/machines/e1/extensions/hello", ext_body("1.1"))
	check(status == 200 and doc["sequenceNumber"] == 1 and doc["version"] == "1.1", "the second PUT: %d %r"
	      % (status, doc))
	g2 = goal(env, "e1")
	check(g2["goalStateSeq"] == g1["goalStateSeq"] + 1 and g2["extensions"][0]["publicSettings"] == {},
	      "goal state after the second PUT: %r (before %r)" % (g2, g1))
	status, doc = report(env, "e1", "hello", 1, "Enable", version="1.1")
	check(status == 200 and doc["removed"] is False, "the machine's report: %d %r" % (status, doc))
	status, doc = op(env, "GET", "/operator/machines/e1/extensions/hello")
	check(status == 200 and doc["status"]["status"] == "success" and doc["status"]["operation"] == "Enable" and
	      doc["status"]["handlerState"] == "Enabled" and doc["statusTime"], "GET after the report: %d %r"
	      % (status, doc))
	status, doc = op(env, "GET", "/operator/machines/e1/extensions")
	check(status == 200 and [e["name"] for e in doc] == ["hello"], "the list: %d %r" % (status, doc))
	status, doc = op(env, "DELETE", "/operator/machines/e1/extensions/hello")
	check(status == 200 and doc["desiredState"] == "absent" and doc["sequenceNumber"] == 2, "DELETE: %d %r"
	      % (status, doc))
	g3 = goal(env, "e1")
	check(g3["goalStateSeq"] == g2["goalStateSeq"] + 1 and g3["extensions"][0]["desiredState"] == "absent",
	      "goal state after DELETE: %r" % g3)
	# Still there until the machine says it is gone.
	status, doc = report(env, "e1", "hello", 2, "Disable", version="1.1")
	check(status == 200 and doc["removed"] is False, "a Disable report of an absent extension: %d %r"
	      % (status, doc))
	status, doc = report(env, "e1", "hello", 2, "Uninstall", version="1.1", handlerState="NotInstalled")
	check(status == 200 and doc["removed"] is True, "the Uninstall report: %d %r" % (status, doc))
	status, doc = op(env, "GET", "/operator/machines/e1/extensions/hello")
	check(status == 404 and tc.error_code(doc) == "ExtensionNotFound", "GET after the uninstall: %d %r"
	      % (status, doc))
	check(goal(env, "e1")["extensions"] == [], "the goal state still lists the extension")
	# One the machine never installed: its uninstall report has no version.
	status, _ = op(env, "PUT", "/operator/machines/e1/extensions/never", ext_body())
	check(status == 201, "PUT never: %d" % status)
	status, _ = op(env, "DELETE", "/operator/machines/e1/extensions/never")
	check(status == 200, "DELETE never: %d" % status)
	status, doc = report(env, "e1", "never", 1, "Uninstall", version="", handlerState="NotInstalled")
	check(status == 200 and doc["removed"] is True, "an uninstall report without a version: %d %r"
	      % (status, doc))
	check(env.sim.log_has(r"goal state of e1: extensions at seq %d" % g3["goalStateSeq"]),
	      "no goal-state change logged")


@test(timeout=60)
def protected_settings_decrypt_with_the_settings_key(env):
	sim = env.sim
	tc.registered(env, "e2")
	secret = {"password": "s3cr\u00e9t", "list": [1, 2, 3]}
	status, doc = op(env, "PUT", "/operator/machines/e2/extensions/secret",
			 ext_body(protectedSettings=secret, publicSettings={"visible": True}))
	check(status == 201, "PUT with protectedSettings: %d %r" % (status, doc))
	status, doc = tc.api(env, "GET", "/machines/e2/extensions", cert="e2")
	check(status == 409 and tc.error_code(doc) == "NoSettingsCertificate", "GET without a settings certificate: "
	      "%d %r" % (status, doc))
	key, crt = settings_identity(env, "e2")
	with open(crt) as f:
		pem = f.read()
	status, doc = tc.api(env, "PUT", "/machines/e2/settingsCertificate", {"certificate": pem}, cert="e2")
	check(status == 200 and doc["thumbprint"] == thumbprint(crt), "PUT settingsCertificate: %d %r (openssl: %s)"
	      % (status, doc, thumbprint(crt)))
	ext = goal(env, "e2")["extensions"][0]
	check(ext["protectedSettingsCertThumbprint"] == thumbprint(crt) and ext["publicSettings"] == {"visible": True},
	      "the goal state's extension: %r" % ext)
	der = os.path.join(env.ids, "e2-settings.der")
	with open(der, "wb") as f:
		f.write(base64.b64decode(ext["protectedSettings"]))
	r = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", der, "-recip", crt,
			    "-inkey", key], capture_output=True, timeout=10)
	check(r.returncode == 0, "openssl cms -decrypt: %s" % r.stderr.decode(errors="replace"))
	check(json.loads(r.stdout) == secret, "decrypted %r, expected %r" % (r.stdout, secret))
	r = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", der],
			   capture_output=True, text=True, timeout=10)
	check("aes-256-cbc" in r.stdout, "not AES-256-CBC:\n%s" % r.stdout[:800])
	with open(os.path.join(sim.state_dir, "extensions.json")) as f:
		check("s3cr" in f.read(), "protected settings are not kept in clear")
	again = goal(env, "e2")["extensions"][0]
	check(again["protectedSettings"] == ext["protectedSettings"], "a second GET encrypted the same settings "
	      "again: the machine would see a change")
	status, _ = op(env, "PUT", "/operator/machines/e2/extensions/secret", ext_body(protectedSettings={"n": 2}))
	check(status == 200, "the second PUT: %d" % status)
	changed = goal(env, "e2")["extensions"][0]
	check(changed["protectedSettings"] != ext["protectedSettings"] and changed["sequenceNumber"] == 1,
	      "new settings, same ciphertext: %r" % changed)


@test(timeout=60)
def bad_inputs_get_precise_answers(env):
	tc.registered(env, "e3")
	tc.registered(env, "e4")
	path = "/operator/machines/e3/extensions/x"
	cases = [
		(("PUT", "/operator/machines/nobody/extensions/x", ext_body()), 404, "NotFound"),
		(("PUT", path, ext_body("9.9")), 400, "PackageNotInCatalog"),
		(("PUT", path, ext_body(publisher="Bad/Pub")), 400, "InvalidRequest"),
		(("PUT", path, ext_body(type_="x")), 400, "InvalidRequest"),
		(("PUT", path, ext_body(version="1.0-beta")), 400, "InvalidRequest"),
		(("PUT", path, ext_body(protectedSettings="text")), 400, "InvalidRequest"),
		(("PUT", "/operator/machines/e3/extensions/-bad", ext_body()), 400, "InvalidExtensionName"),
		(("DELETE", "/operator/machines/e3/extensions/never", None), 404, "ExtensionNotFound"),
		(("GET", "/operator/machines/e3/extensions/never", None), 404, "ExtensionNotFound"),
		(("POST", path, ext_body()), 405, "MethodNotAllowed"),
	]
	for (method, p, body), want, code in cases:
		status, doc = op(env, method, p, body)
		check(status == want and tc.error_code(doc) == code, "%s %s %r: %d %r, expected %d %s"
		      % (method, p, body, status, doc, want, code))
	status, doc = op(env, "PUT", path, raw=b"{not json")
	check(status == 400 and tc.error_code(doc) == "InvalidJson", "a body that is not JSON: %d %r" % (status, doc))
	status, doc = op(env, "PUT", path, raw=json.dumps(dict(ext_body(), extra=1)).encode())
	check(status == 400 and "extra" in doc["error"]["message"], "an unknown member: %d %r" % (status, doc))
	status, doc = op(env, "PUT", path, ext_body())
	check(status == 201, "a good PUT after the bad ones: %d %r" % (status, doc))
	# The machine's side.
	status, doc = report(env, "e3", "x", 0, "Explode")
	check(status == 400 and tc.error_code(doc) == "InvalidRequest" and "operation" in doc["error"]["message"],
	      "a report with a bad operation: %d %r" % (status, doc))
	status, doc = report(env, "e3", "never", 0, "Enable")
	check(status == 404 and tc.error_code(doc) == "ExtensionNotFound", "a report for no extension: %d %r"
	      % (status, doc))
	status, doc = tc.api(env, "GET", "/machines/e3/extensions", cert="e4")
	check(status == 403 and tc.error_code(doc) == "Forbidden", "another machine's goal state: %d %r" % (status, doc))
	status, doc = tc.api(env, "GET", "/machines/e3/extensions")
	check(status == 401 and tc.error_code(doc) == "CertificateRequired", "no certificate: %d %r" % (status, doc))
	with open(os.path.join(env.ids, "e3.crt")) as f:
		own = f.read()
	status, doc = tc.api(env, "PUT", "/machines/e3/settingsCertificate", {"certificate": own}, cert="e3")
	check(status == 400 and tc.error_code(doc) == "InvalidCertificate" and "identity" in doc["error"]["message"],
	      "the machine identity's certificate as the settings certificate: %d %r" % (status, doc))
	status, doc = tc.api(env, "PUT", "/machines/e3/settingsCertificate", {"certificate": "nope"}, cert="e3")
	check(status == 400 and tc.error_code(doc) == "InvalidCertificate", "not a PEM: %d %r" % (status, doc))
	long_message = "x" * 5000
	status, doc = report(env, "e3", "x", 0, "Enable", message=long_message)
	check(status == 200, "a report with a 5000-character message: %d %r" % (status, doc))
	status, doc = op(env, "GET", path)
	check(len(doc["status"]["message"]) == 4096, "the stored message has %d characters, expected 4096"
	      % len(doc["status"]["message"]))
	tc.served(env, "after the bad inputs")


@test(timeout=60)
def state_survives_a_restart(env):
	sim = env.sim
	tc.registered(env, "e5")
	key, crt = settings_identity(env, "e5")
	with open(crt) as f:
		status, _ = tc.api(env, "PUT", "/machines/e5/settingsCertificate", {"certificate": f.read()}, cert="e5")
	check(status == 200, "PUT settingsCertificate: %d" % status)
	status, _ = op(env, "PUT", "/operator/machines/e5/extensions/keep", ext_body(protectedSettings={"k": "v"}))
	check(status == 201, "PUT: %d" % status)
	status, _ = report(env, "e5", "keep", 0, "Enable")
	check(status == 200, "report: %d" % status)
	_, before = op(env, "GET", "/operator/machines/e5/extensions")
	seq_before = goal(env, "e5")["goalStateSeq"]
	state = os.path.join(sim.state_dir, "extensions.json")
	mode = os.stat(state).st_mode & 0o777
	check(mode == 0o600, "extensions.json has mode %o, not 600" % mode)
	rc = sim.stop()
	check(rc == 0, "cloudsim exited %s on SIGTERM\n%s" % (rc, sim.stderr_tail()))
	sim.start()
	_, after = op(env, "GET", "/operator/machines/e5/extensions")
	check(after == before, "the extensions changed across a restart:\nbefore %r\nafter  %r" % (before, after))
	deadline = time.monotonic() + 15
	while True:
		try:
			g = goal(env, "e5")
			break
		except AssertionError:
			if time.monotonic() > deadline:
				raise
			time.sleep(0.2)
	check(g["goalStateSeq"] == seq_before and g["extensions"][0]["protectedSettingsCertThumbprint"] ==
	      thumbprint(crt), "the goal state after the restart: %r (seq before %d)" % (g, seq_before))
	status, doc = op(env, "PUT", "/operator/machines/e5/extensions/keep", ext_body())
	check(status == 200 and doc["sequenceNumber"] == 1, "a PUT after the restart: %d %r" % (status, doc))
	check(goal(env, "e5")["goalStateSeq"] == seq_before + 1, "goalStateSeq did not go on from where it was")
	# A deleted machine's extensions go with it.
	status, _ = op(env, "DELETE", "/operator/machines/e5")
	check(status == 200, "DELETE e5: %d" % status)
	env.machines.pop("e5", None)
	with open(state) as f:
		doc = json.load(f)
	check(doc["machines"]["e5"]["extensions"] == {} and doc["machines"]["e5"]["settingsCertificate"] is None,
	      "extensions.json after the machine's DELETE: %r" % doc["machines"]["e5"])
