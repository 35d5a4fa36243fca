"""cloudsim's files: the PKI that `cloudsim pki` makes, and `cloudsim -n` on broken configs.

Expectations:
- `cloudsim pki DIR` makes a CA, a gateway certificate (gw.cloudsim.test, 127.0.0.1, serverAuth) and
  a services certificate (*.cloudsim.test), keys 0600, and keeps an existing CA when run again;
  `cloudsim machine-cert DIR NAME` issues a 90-day clientAuth certificate with CN=NAME and refuses a
  name with a slash.
- `cloudsim -n` names file and line of a broken config, an unknown protocol and a missing PKI.
(No daemon runs here: these are the command-line tools.)
"""

import os
import re
import tempfile

import fixtures
from fixtures import openssl
from harness import check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.cloudsim_env(start=False, half=False)


def teardown(env):
	return fixtures.stop_cloudsim_env(env)


# --- the PKI ---------------------------------------------------------------

@test
def pki_files_and_idempotence(env):
	sim = env.sim
	for name in ("ca", "gateway", "services", "m1"):
		check(os.path.exists(sim.file(name + ".crt")), "no %s.crt" % name)
		mode = os.stat(sim.file(name + ".key")).st_mode & 0o777
		check(mode == 0o600, "%s.key has mode %o, not 600" % (name, mode))
	with open(sim.file("ca.crt"), "rb") as f:
		ca_before = f.read()
	r = sim.run("pki", sim.pki)
	check(r.returncode == 0 and "exists" in r.stdout, "pki on an existing CA: %d %r %r"
	      % (r.returncode, r.stdout, r.stderr))
	with open(sim.file("ca.crt"), "rb") as f:
		check(f.read() == ca_before, "pki without --force replaced the CA")
	r = openssl("verify", "-CAfile", sim.file("ca.crt"), "-purpose", "sslserver",
		    sim.file("gateway.crt"), sim.file("services.crt"))
	check(r.returncode == 0, "server certificates do not verify: %s" % (r.stdout + r.stderr))
	r = openssl("x509", "-in", sim.file("gateway.crt"), "-noout", "-ext", "subjectAltName,basicConstraints")
	check("DNS:gw.cloudsim.test" in r.stdout and "IP Address:127.0.0.1" in r.stdout,
	      "gateway SAN: %r" % r.stdout)
	r = openssl("x509", "-in", sim.file("services.crt"), "-noout", "-ext", "subjectAltName")
	check("DNS:*.cloudsim.test" in r.stdout and "DNS:cloudsim.test" in r.stdout,
	      "services SAN: %r" % r.stdout)
	r = openssl("x509", "-in", sim.file("ca.crt"), "-noout", "-ext", "basicConstraints")
	check("CA:TRUE" in r.stdout, "ca.crt is not a CA: %r" % r.stdout)
	r = openssl("x509", "-in", sim.file("m1.crt"), "-noout", "-subject", "-ext", "extendedKeyUsage")
	check("CN = m1" in r.stdout and "Client Authentication" in r.stdout, "m1.crt: %r" % r.stdout)
	r = openssl("verify", "-CAfile", sim.file("ca.crt"), "-purpose", "sslclient", sim.file("m1.crt"))
	check(r.returncode == 0, "m1.crt does not verify as a client: %s" % (r.stdout + r.stderr))
	check(openssl("x509", "-in", sim.file("m1.crt"), "-noout", "-checkend", str(89 * 86400)).returncode == 0,
	      "m1.crt expires within 89 days")
	check(openssl("x509", "-in", sim.file("m1.crt"), "-noout", "-checkend", str(91 * 86400)).returncode != 0,
	      "m1.crt is valid for more than 90 days")
	r = sim.run("machine-cert", sim.pki, "../escape")
	check(r.returncode != 0 and not os.path.exists(os.path.join(sim.base, "escape.crt")),
	      "machine-cert accepted a name with a slash")


# --- configuration -------------------------------------------------------------

@test
def check_flag_names_file_and_line(env):
	sim = env.sim
	r = sim.run("-n", "--config-dir", sim.conf_dir)
	check(r.returncode == 0 and "configuration OK" in r.stdout, "-n on the running config: %d %r %r"
	      % (r.returncode, r.stdout, r.stderr))
	d = tempfile.mkdtemp(dir=sim.base)
	os.chmod(d, 0o755)
	cases = [
		("syntax error", 4, 'pki_dir = "%s";\ngateway = {\n  listen = "127.0.0.1:1";\n'
		 '  refresh_seconds = ;\n};\n' % sim.pki),
		("bad pattern", 3, 'pki_dir = "%s";\ngateway = {\n  endpoints = [ "*.x.test:99999" ];\n};\n' % sim.pki),
		("unknown key", 2, 'pki_dir = "%s";\nechoo = { listen = "127.0.0.1:1"; };\n' % sim.pki),
		("bad host target", 3, 'pki_dir = "%s";\nhosts = (\n  { name = "a.cloudsim.test"; target = "nowhere"; }\n);\n'
		 % sim.pki),
	]
	for what, line, text in cases:
		sim.write_config(conf_dir=d, text=text)
		r = sim.run("-n", "--config-dir", d)
		out = r.stdout + r.stderr
		check(r.returncode != 0, "-n on a config with a %s: exit 0" % what)
		check("cloudsim.conf" in out, "-n (%s) does not name the file: %r" % (what, out.strip()))
		check(re.search(r":%d\b" % line, out), "-n (%s) does not name line %d: %r" % (what, line, out.strip()))
	sim.write_config(conf_dir=d, text='pki_dir = "%s";\ngateway = {\n  protocols = [ "h2", "h3" ];\n};\n'
			 % sim.pki)
	r = sim.run("-n", "--config-dir", d)
	check(r.returncode != 0 and re.search(r'cloudsim\.conf:3:.*"h3" is not one of', r.stderr),
	      "-n with an unknown protocol: %d %r" % (r.returncode, r.stderr))
	sim.write_config(conf_dir=d, text='pki_dir = "%s";\n' % os.path.join(d, "nopki"))
	r = sim.run("-n", "--config-dir", d)
	check(r.returncode != 0 and "cloudsim pki" in r.stderr, "-n with a missing PKI: %d %r"
	      % (r.returncode, r.stderr))
