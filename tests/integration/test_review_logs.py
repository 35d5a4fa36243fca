"""azcmagent logs, run as root, takes only files that root's own config names.

Expectations:
- Whatever answers on arcproxy's admin port (any local user can bind it while arcproxy is down)
  cannot make root's `azcmagent logs` copy a file of its choosing (a root-only 0600 file) into the
  support archive: the access log comes from arcproxy.conf, not from GET /status.
"""

import http.server
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading

import harness
from harness import check, free_port, test

AZCMAGENT = harness.BIN_DIR / "azcmagent"


class _Status(http.server.BaseHTTPRequestHandler):
	"""A local user's stand-in for arcproxy's admin API."""
	doc = {}

	def do_GET(self):
		body = json.dumps(self.doc).encode()
		self.send_response(200)
		self.send_header("Content-Type", "application/json")
		self.send_header("Content-Length", str(len(body)))
		self.end_headers()
		self.wfile.write(body)

	def log_message(self, *args):
		pass


@test(timeout=30)
def logs_ignores_access_log_named_by_admin_port(env):
	tmp = tempfile.mkdtemp(prefix="review-logs-", dir=harness.tmp_root())
	srv = None
	try:
		conf, state, run = (os.path.join(tmp, d) for d in ("conf", "state", "run"))
		for d in (conf, state, run, os.path.join(state, "arcproxy")):
			os.makedirs(d)
		secret = os.path.join(tmp, "root-only-secret.txt")
		with open(secret, "w") as f:
			f.write("ROOT-ONLY-SECRET-4711\n")
		os.chmod(secret, 0o600)
		port = free_port()
		with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
			f.write('listen = [ "127.0.0.1:%d" ];\nadmin_listen = "127.0.0.1:%d";\n'
				'routes = ( );\n' % (free_port(), port))
		_Status.doc = {"access_log": secret}
		srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Status)
		threading.Thread(target=srv.serve_forever, daemon=True).start()
		out = os.path.join(tmp, "logs.tar.gz")
		r = subprocess.run([str(AZCMAGENT), "logs", "--output", out, "-j", "--config-dir", conf,
				    "--state-dir", state, "--run-dir", run, "--himds", "http://127.0.0.1:%d" % free_port()],
				   capture_output=True, text=True, timeout=20)
		check(r.returncode == 0, "logs: exit %d: %s" % (r.returncode, r.stderr.strip()))
		with tarfile.open(out, "r:gz") as t:
			members = {m.name.split("/", 1)[1]: t.extractfile(m).read().decode("utf-8", "replace")
				   for m in t.getmembers() if m.isfile()}
		check("live/arcproxy-status.json" in members or "summary.json" in members,
		      "the archive: %r" % sorted(members))
		for name, text in members.items():
			check("ROOT-ONLY-SECRET-4711" not in text,
			      "the archive's %s holds the file that the admin port named (%s)" % (name, secret))
	finally:
		if srv is not None:
			srv.shutdown()
			srv.server_close()
		shutil.rmtree(tmp, ignore_errors=True)
