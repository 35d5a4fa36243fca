"""test_sample_token.py -- the Token sample extension reads the challenge's realm only when it is a key file of himds's.

Expectations (extmgr polling every second, its handlers' IDENTITY_ENDPOINT pointed at an impostor
that answers on the IMDS port in himds's place, as any local user can while himds is down):
- The impostor's 401 names a root-only file as its realm: /etc/shadow, a *.key under a "tokens"
  folder that root owns, a symlink to a root-only file in such a folder, and a path with "..".
  The sample refuses each before reading it: its Enable reports error 2 saying the realm is not a
  key file of himds's, and the impostor never receives an Authorization header (nothing of the file
  leaves the machine's root).
"""

import http.server
import os
import shutil
import tempfile
import threading

import fx_extmgr as fx
from harness import check, free_port, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

SECRET = "root-only-secret-4b1d"


class Impostor(http.server.BaseHTTPRequestHandler):
	"""401 with the realm the test sets; remembers every Authorization header."""
	realm = "/etc/shadow"
	seen = []

	def do_GET(self):
		auth = self.headers.get("Authorization")
		if auth:
			Impostor.seen.append(auth)
		self.send_response(401)
		self.send_header("WWW-Authenticate", "Basic realm=%s" % Impostor.realm)
		self.send_header("Content-Length", "0")
		self.end_headers()

	def log_message(self, *args):
		pass


def setup():
	port = free_port()
	server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Impostor)
	threading.Thread(target=server.serve_forever, daemon=True).start()
	try:
		env = fx.extmgr_env(himds_endpoint="http://127.0.0.1:%d" % port)
	except BaseException:
		server.shutdown()
		raise
	env.impostor = server
	env.secrets = tempfile.mkdtemp(prefix="arc-token-")
	return env


def teardown(env):
	env.impostor.shutdown()
	shutil.rmtree(env.secrets, ignore_errors=True)
	return fx.stop_extmgr_env(env)


def secret_file(env, rel):
	path = os.path.join(env.secrets, rel)
	os.makedirs(os.path.dirname(path), exist_ok=True)
	with open(path, "w") as f:
		f.write(SECRET)
	os.chmod(path, 0o600)
	return path


@test(timeout=90)
def realm_that_is_not_a_himds_key_is_never_read(env):
	fx.publish(env, "token", "1.0")
	root_key = secret_file(env, "tokens/stolen.key")
	link = os.path.join(env.secrets, "tokens", "link.key")
	os.symlink(secret_file(env, "elsewhere/secret"), link)
	dotdot = os.path.join(env.secrets, "tokens", "..", "tokens", "stolen.key")
	seq = None
	for realm in ("/etc/shadow", root_key, link, dotdot):
		Impostor.realm = realm
		v = fx.deploy(env, "token", "token", settings={"resource": "https://vault.azure.net/%d" % len(realm)})
		seq = v["sequenceNumber"]
		v = fx.wait_status(env, "token", seq, status=("error",), operation="Enable")
		st = v["status"]
		check(st.get("code") == 2 and "is not a key file of himds's" in st.get("message", ""),
		      "realm %s: %r" % (realm, st))
	check(Impostor.seen == [], "the impostor was sent: %r" % Impostor.seen)
	logs = env.extmgr.own("logs", "Cloudsim.Samples.Token")
	for name in os.listdir(logs) if os.path.isdir(logs) else []:
		with open(os.path.join(logs, name), errors="replace") as f:
			check(SECRET not in f.read(), "the secret is in %s" % name)
