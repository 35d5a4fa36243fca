"""gateway.py -- the gateway route in `make bench`: arcproxy -> cloudsim's gateway over h2 and over http/1.1, cloudsim alone, and Squid chained to a TLS Squid.

Every route ends at benchorigin's raw TCP port under the name origin.cloudsim.test (cloudsim's
hosts table and endpoint list; Squid's hosts_file), so arcbench sends the same CONNECT to each:

  cloudsim     arcbench --gateway (TLS, the machine certificate, one tunnel per connection,
               sessions resumed) -> cloudsim's gateway: the gateway alone
  arcproxy-h2  arcbench -> arcproxy (gateway.protocol "h2": every tunnel a CONNECT stream on one
               TLS connection) -> cloudsim
  arcproxy-h1  arcbench -> arcproxy (gateway.protocol "http/1.1": every tunnel a TLS connection of
               its own carrying one CONNECT; 2 kept warm) -> cloudsim
  squid-chain  arcbench -> Squid (http_port; cache_peer ... tls, never_direct) -> Squid (https_port
               tls-cert=) -> the origin: a standard HTTPS-proxy chain
  tlsfloor     arcbench -> bench/tlsfloor.c (a TLS connection to cloudsim per client connection,
               bytes passed through: OpenSSL's SSL_read into 256 KiB and write(2)) -> cloudsim's
               http/1.1 side: the floor of a front proxy's CPU per MB on this route

The section's rows, the CPU that each process on the path spent, the TLS connections to the
gateway per tunnel (arcproxy's /metrics), and the checks against issues 3 and 5.
"""

import os
import shutil
import statistics
import subprocess
import urllib.request
from pathlib import Path

from services import Service, chown_to, run_dir, ensure_user, free_port, is_root, say, version_of
from table import fmt_num, render_table

ROUTES = ["cloudsim", "arcproxy-h2", "arcproxy-h1", "squid-chain", "nghttpx", "arcproxy-nghttpx",
	  "tlsfloor"]
HEADERS = {"cloudsim": "cloudsim alone", "arcproxy-h2": "arcproxy h2",
	   "arcproxy-h1": "arcproxy http/1.1", "squid-chain": "squid > tls squid",
	   "nghttpx": "nghttpx alone", "arcproxy-nghttpx": "arcproxy h2 > nghttpx",
	   "tlsfloor": "tls floor"}
# BENCH_BASE_BIN: another build's arcproxy and cloudsim, measured beside ours in the same run.
BASE_BIN = os.environ.get("BENCH_BASE_BIN") or None
if BASE_BIN:
	ROUTES += ["arcproxy-h2-base", "arcproxy-h1-base"]
	HEADERS.update({"arcproxy-h2-base": "base h2", "arcproxy-h1-base": "base http/1.1"})
ORIGIN_NAME = "origin.cloudsim.test"
GATEWAY_NAME = "gw.cloudsim.test"
MACHINE = "bench-machine"
SETUP_CONNS = 16	# tunnels being set up at once: far more than arcproxy's 2 warm connections
FAIR_CONNS = 20		# downloads sharing arcproxy's one h2 connection (issue 16's fairness)
# Issue 16's ratios of two routes (ours, theirs): the table's measurements are seconds apart and
# this machine drifts by 20% over a run, so each pair is measured PAIR_ROUNDS times in all, back
# to back, the order turned each round; the check takes the median of the rounds' ratios.
PAIRS = [("arcproxy-h2", "squid-chain", 1.5), ("arcproxy-nghttpx", "nghttpx", 0.8)]
PAIR_ROUNDS = 3
# The main table's rows that are the same work straight to the origin: the baseline.
DIRECT_KEYS = {"gw_tunnel_down": "tunnel_down", "gw_tunnel_up": "tunnel_up", "gw_setup": "setup"}


class Route:
	"""One way through a gateway for arcbench: its arguments, and the processes on the path."""

	def __init__(self, name, args, gateway, front=None, metrics_port=None, notes="", keys=None):
		self.name = name
		self.keys = keys		# the workloads it runs, or None: all
		self.args = args		# how arcbench reaches it
		self.gateway = gateway		# the Service that is the gateway
		self.front = front		# the Service arcbench talks to, when it is not the gateway
		self.metrics_port = metrics_port	# arcproxy's admin listener
		self.notes = notes

	def bench_args(self):
		return self.args

	def sample_pids(self):
		return [s.pid for s in (self.front, self.gateway) if s is not None]

	def gateway_counters(self):
		"""(TLS connections made to the gateway, gateway tunnels) from arcproxy's /metrics."""
		if self.metrics_port is None:
			return None
		try:
			with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
						    timeout=5) as r:
				text = r.read().decode()
		except OSError:
			return None
		found = {}
		for line in text.splitlines():
			name, _, value = line.rpartition(" ")
			if name in ("arcproxy_gateway_connections_total",
				    'arcproxy_tunnels_total{route="gateway"}'):
				found[name] = float(value)
		if len(found) != 2:
			return None
		return found["arcproxy_gateway_connections_total"], found['arcproxy_tunnels_total{route="gateway"}']


def workloads(target, seconds):
	"""The section's timed workloads: key, title, metric, unit, higher-is-better, arcbench args."""
	# --drain: tunnels under way at the window's end finish.  Cut off mid-transfer, an
	# HTTP/1.1 tunnel leaves cloudsim writing to the closed socket in a loop (see the
	# README), which would slow every measurement after it.
	timed = ["-d", "%g" % seconds, "--warmup", "0.5", "--drain"]
	return [
		("gw_tunnel_down", "64 MiB tunnel download", "mb_per_s", "MB/s", True,
		 ["--mode", "tunnel", "--direction", "down", "--target", target, "-s", "64M", "-c", "1"]
		 + timed),
		("gw_tunnel_up", "64 MiB tunnel upload", "mb_per_s", "MB/s", True,
		 ["--mode", "tunnel", "--direction", "up", "--target", target, "-s", "64M", "-c", "1"]
		 + timed),
		("gw_setup", "tunnel setup, %d at a time (64 B each way)" % SETUP_CONNS, "ops_per_s",
		 "tunnels/s", True,
		 ["--mode", "setup", "--target", target, "-s", "64", "-c", str(SETUP_CONNS)] + timed),
	]


class GatewaySection:
	"""The processes of the gateway routes, their measurements and their report."""

	def __init__(self, work, bin_dir, origin, wanted, rev):
		self.dir = os.path.join(work, "gateway")
		os.mkdir(self.dir)
		os.chmod(self.dir, 0o755)
		self.bin_dir = bin_dir
		self.origin = origin
		self.wanted = [r for r in ROUTES if r in wanted]
		self.target = "%s:%s" % (ORIGIN_NAME, origin.tcp.rsplit(":", 1)[1])
		self.pki = os.path.join(self.dir, "pki")
		self.routes = {}
		self.services = []
		self.skipped = {}
		self.workloads = []
		self.fairness = {}		# "all" and "stalled": arcbench results on arcproxy-h2
		self.paired = {}		# "key ours theirs": [[ours, theirs] MB/s a round]
		self.seconds = None
		self.cloudsim = None
		self.rev = rev			# the tree's revision, for the versions line

	# --- starting ---------------------------------------------------------------

	def _cloudsim_cmd(self, *args):
		return subprocess.run([str(self.bin_dir / "cloudsim"), *args], capture_output=True,
				      text=True, timeout=30)

	def _service(self, svc):
		self.services.append(svc)
		if not svc.wait_listening():
			raise RuntimeError("%s did not listen: %s" % (svc.name, svc.tail()))
		return svc

	def _skip_all(self, names, why):
		for n in names:
			if n in self.wanted and n not in self.skipped:
				self.skipped[n] = why

	def start(self):
		"""Starts what the wanted routes need; a route that cannot start is skipped, with why."""
		if not (self.bin_dir / "cloudsim").exists():
			self._skip_all(ROUTES, "cloudsim not found in %s: run make first" % self.bin_dir)
			return
		# The demo PKI: the gateway's certificate (gw.cloudsim.test, 127.0.0.1) serves
		# cloudsim and the TLS Squid alike; the machine certificate is arcproxy's identity.
		for args in (("pki", self.pki), ("machine-cert", self.pki, MACHINE)):
			p = self._cloudsim_cmd(*args)
			if p.returncode != 0:
				self._skip_all(ROUTES, "cloudsim %s failed: %s" % (args[0], p.stderr.strip()[:200]))
				return
		if any(r in self.wanted for r in ("cloudsim", "arcproxy-h2", "arcproxy-h1", "tlsfloor")):
			try:
				self.cloudsim = self._start_cloudsim()
			except (OSError, RuntimeError, subprocess.SubprocessError) as e:
				self._skip_all(["cloudsim", "arcproxy-h2", "arcproxy-h1", "tlsfloor"],
					       "cloudsim: %s" % e)
		if self.cloudsim is not None:
			if "cloudsim" in self.wanted:
				self.routes["cloudsim"] = Route(
					"cloudsim", ["--gateway", "--proxy", "127.0.0.1:%d" % self.cloudsim.port,
						     "--cert", self._pki(MACHINE + ".crt"),
						     "--key", self._pki(MACHINE + ".key"),
						     "--ca", self._pki("ca.crt"), "--servername", GATEWAY_NAME],
					self.cloudsim, notes="arcbench --gateway: TLS with the machine certificate, "
					"ALPN http/1.1, a connection per tunnel, the last session resumed")
			for name, proto in (("arcproxy-h2", "h2"), ("arcproxy-h1", "http/1.1")):
				if name not in self.wanted:
					continue
				try:
					self.routes[name] = self._start_arcproxy(name, proto)
				except (OSError, RuntimeError, subprocess.SubprocessError) as e:
					self.skipped[name] = str(e)
		if self.cloudsim is not None and "tlsfloor" in self.wanted:
			try:
				self.routes["tlsfloor"] = self._start_tlsfloor()
			except (OSError, RuntimeError, subprocess.SubprocessError) as e:
				self.skipped["tlsfloor"] = str(e)
		elif "tlsfloor" in self.wanted:
			self.skipped["tlsfloor"] = "cloudsim did not start"
		if any(r in self.wanted for r in ("nghttpx", "arcproxy-nghttpx")):
			self._start_nghttpx()
		base = [n for n in ("arcproxy-h2-base", "arcproxy-h1-base") if n in self.wanted]
		if base:
			self._start_base(base)
		if "squid-chain" in self.wanted:
			if shutil.which("squid") is None:
				self.skipped["squid-chain"] = "not installed (squid)"
			else:
				try:
					self.routes["squid-chain"] = self._start_squid_chain()
				except (OSError, RuntimeError, subprocess.SubprocessError) as e:
					self.skipped["squid-chain"] = str(e)

	def _start_base(self, names):
		"""BENCH_BASE_BIN: the base build's cloudsim and arcproxy, a route of their own."""
		try:
			cloudsim = self._start_cloudsim(Path(BASE_BIN), "cloudsim-base")
		except (OSError, RuntimeError, subprocess.SubprocessError) as e:
			self._skip_all(names, "cloudsim-base: %s" % e)
			return
		for name in names:
			proto = "h2" if name == "arcproxy-h2-base" else "http/1.1"
			try:
				self.routes[name] = self._start_arcproxy(name, proto, Path(BASE_BIN), cloudsim)
			except (OSError, RuntimeError, subprocess.SubprocessError) as e:
				self.skipped[name] = str(e)

	def _start_nghttpx(self):
		"""nghttpx as a second gateway: secure-proxy mode (-s), the machine certificate
		required, CONNECT passed to a plain Squid that reaches the origin."""
		names = [n for n in ("nghttpx", "arcproxy-nghttpx") if n in self.wanted]
		missing = [p for p in ("nghttpx", "squid") if shutil.which(p) is None]
		if missing:
			self._skip_all(names, "not installed (%s)" % ", ".join(missing))
			return
		try:
			sq_port, port = free_port(), free_port()
			backend = self._squid("squid-backend", sq_port, "http_port 127.0.0.1:%d" % sq_port, "")
			backend.version, backend.notes = version_of(["squid", "-v"]), "nghttpx's backend"
			self._service(backend)
			d = os.path.join(self.dir, "nghttpx")
			os.mkdir(d)
			svc = Service("nghttpx", [
				"nghttpx", "-s", "--single-process", "--workers=1", "--conf=/dev/null",
				"-f127.0.0.1,%d" % port, "-b127.0.0.1,%d" % sq_port, "--no-ocsp",
				"--verify-client", "--verify-client-cacert=" + self._pki("ca.crt"),
				"--frontend-http2-window-size=4M", "--frontend-http2-connection-window-size=64M",
				"--accesslog-file=" + os.path.join(d, "access.log"),
				"--errorlog-file=" + os.path.join(d, "error.log"),
				self._pki("gateway.key"), self._pki("gateway.crt")], d, port=port)
			svc.version = version_of(["nghttpx", "--version"])
			svc.notes = ("-s (secure proxy), --verify-client, one worker, windows as cloudsim's (4 MiB a "
				     "stream, 64 MiB the connection), CONNECT to a plain Squid")
			self._service(svc)
		except (OSError, RuntimeError, subprocess.SubprocessError) as e:
			self._skip_all(names, "nghttpx: %s" % e)
			return
		if "nghttpx" in self.wanted:
			self.routes["nghttpx"] = Route(
				"nghttpx", ["--gateway", "--proxy", "127.0.0.1:%d" % port,
					    "--cert", self._pki(MACHINE + ".crt"), "--key", self._pki(MACHINE + ".key"),
					    "--ca", self._pki("ca.crt"), "--servername", GATEWAY_NAME],
				svc, notes="arcbench --gateway straight to nghttpx: its own limit")
		if "arcproxy-nghttpx" in self.wanted:
			try:
				self.routes["arcproxy-nghttpx"] = self._start_arcproxy("arcproxy-nghttpx", "h2",
										       cloudsim=svc)
			except (OSError, RuntimeError, subprocess.SubprocessError) as e:
				self.skipped["arcproxy-nghttpx"] = str(e)

	def _start_tlsfloor(self):
		"""bench/tlsfloor.c in front of cloudsim: the least work on the front proxy's side of
		this route (TLS in, plain bytes out); the bulk workloads only."""
		exe = self.bin_dir / "tlsfloor"
		if not exe.exists():
			raise RuntimeError("%s not found: run make first" % exe)
		d = os.path.join(self.dir, "tlsfloor")
		os.mkdir(d)
		port = free_port()
		svc = Service("tlsfloor", [str(exe), str(port), "127.0.0.1:%d" % self.cloudsim.port,
					   GATEWAY_NAME, self._pki("ca.crt"), self._pki(MACHINE + ".crt"),
					   self._pki(MACHINE + ".key")], d, port=port)
		svc.version = "tlsfloor (bench/tlsfloor.c)"
		svc.notes = ("a TLS connection to cloudsim per tunnel (ALPN http/1.1), bytes passed "
			     "through: SSL_read (read-ahead, 64 KiB) into 256 KiB, one write(2)")
		self._service(svc)
		return Route("tlsfloor", svc.bench_args(), self.cloudsim, front=svc, notes=svc.notes,
			     keys=("gw_tunnel_down", "gw_tunnel_up"))

	def _pki(self, name):
		return os.path.join(self.pki, name)

	def _start_cloudsim(self, bin_dir=None, name="cloudsim"):
		bin_dir = bin_dir or self.bin_dir
		d = os.path.join(self.dir, name)
		conf, state = os.path.join(d, "conf"), os.path.join(d, "state")
		for p in (d, conf, state):
			os.mkdir(p)
		port = free_port()
		text = ("# generated by bench/run.py: the gateway alone, in front of benchorigin's raw TCP port\n"
			'pki_dir = "%s";\n'
			"gateway = {\n"
			'\tlisten = "127.0.0.1:%d";\n'
			'\tendpoints = [ "%s" ];\n'
			'\tprotocols = [ "h2", "http/1.1" ];\n'
			"};\n"
			'echo = { listen = ""; };\n'
			'control = { listen = ""; operator_listen = ""; };\n'
			'packages = { listen = ""; };\n'
			'hosts = ( { name = "%s"; target = "%s"; } );\n'
			% (self.pki, port, ORIGIN_NAME, ORIGIN_NAME, self.origin.tcp))
		path = os.path.join(conf, "cloudsim.conf")
		with open(path, "w") as f:
			f.write(text)
		p = self._cloudsim_cmd("-n", "--config-dir", conf)
		if p.returncode != 0:
			raise RuntimeError("its configuration: %s" % p.stderr.strip()[:300])
		svc = Service(name, [str(bin_dir / "cloudsim"), "-d", "--config-dir", conf,
				     "--state-dir", state], d, port=port)
		svc.version = "cloudsim " + (self.rev if bin_dir == self.bin_dir else str(bin_dir))
		svc.notes = "one event loop; ALPN h2 and http/1.1; an audit line per CONNECT"
		return self._service(svc)

	def _start_arcproxy(self, name, protocol, bin_dir=None, cloudsim=None):
		bin_dir, cloudsim = bin_dir or self.bin_dir, cloudsim or self.cloudsim
		d = os.path.join(self.dir, name)
		conf, state = os.path.join(d, "conf"), os.path.join(d, "state")
		for p in (d, conf, state):
			os.mkdir(p)
			os.chmod(p, 0o755)
		if is_root() and not ensure_user("arcproxy"):
			raise RuntimeError("cannot create the user arcproxy")
		port, admin = free_port(), free_port()
		files = {
			os.path.join(conf, "arcproxy.conf"):
				"# generated by bench/run.py: one worker, gateway mode (agent.conf)\n"
				'listen = [ "127.0.0.1:%d" ];\n'
				'admin_listen = "127.0.0.1:%d";\n'
				"workers = 1;\n"
				'hosts = ( { name = "%s"; address = "127.0.0.1"; } );\n'
				'dns_servers = [ "127.0.0.1" ];\n'
				'access_log = "access.log";\n' % (port, admin, GATEWAY_NAME),
			os.path.join(conf, "agent.conf"):
				'connection = { type = "gateway"; };\n'
				'gateway = { url = "https://%s:%d"; ca_file = "ca.crt"; protocol = "%s"; };\n'
				% (GATEWAY_NAME, cloudsim.port, protocol),
		}
		for path, text in files.items():
			with open(path, "w") as f:
				f.write(text)
			os.chmod(path, 0o644)
		shutil.copy(self._pki("ca.crt"), os.path.join(conf, "ca.crt"))
		os.chmod(os.path.join(conf, "ca.crt"), 0o644)
		# The machine identity where the security layout has it: <state>/himds.
		ident = os.path.join(state, "himds")
		os.mkdir(ident)
		os.chmod(ident, 0o750)
		chown_to(ident, "arcproxy")
		for ext in ("crt", "key"):
			dst = os.path.join(ident, "machine." + ext)
			shutil.copy(self._pki(MACHINE + "." + ext), dst)
			os.chmod(dst, 0o600 if ext == "key" else 0o644)
			chown_to(dst, "arcproxy")
		chown_to(state, "arcproxy")
		svc = Service(name, [str(bin_dir / "arcproxy"), "-d", "--config-dir", conf,
				     "--state-dir", state,
				     "--run-dir", run_dir(d)], d, port=port)
		svc.version = "arcproxy " + (self.rev if bin_dir == self.bin_dir else str(bin_dir))
		svc.notes = "workers = 1; access log on; gateway.protocol = \"%s\"" % protocol
		self._service(svc)
		return Route(name, svc.bench_args(), cloudsim, front=svc, metrics_port=admin,
			     notes=svc.notes)

	def _squid(self, name, port, listen, extra):
		"""A Squid on port: listen is its http_port or https_port line ({dir} is its
		directory), extra more lines."""
		d = os.path.join(self.dir, name)
		os.mkdir(d)
		os.chmod(d, 0o755)
		hosts = os.path.join(d, "hosts")
		with open(hosts, "w") as f:
			f.write("127.0.0.1 %s %s\n" % (GATEWAY_NAME, ORIGIN_NAME))
		for f in ("ca.crt", "gateway.crt", "gateway.key"):
			shutil.copy(self._pki(f), os.path.join(d, f))
		os.chmod(os.path.join(d, "gateway.key"), 0o600)
		conf = os.path.join(d, "squid.conf")
		with open(conf, "w") as f:
			f.write("# generated by bench/run.py: one worker, no cache\n"
				"%s\n%s"
				"visible_hostname %s\n"	# distinct names: no false forwarding loop
				"workers 1\n"
				"http_access allow all\n"
				"cache deny all\n"
				"cache_mem 0 MB\n"
				"hosts_file %s\n"
				"access_log stdio:%s/access.log squid\n"
				"cache_log %s/cache.log\n"
				"cache_store_log none\n"
				"pid_filename %s/squid.pid\n"
				"coredump_dir %s\n"
				"max_filedescriptors 20000\n"
				"shutdown_lifetime 1 seconds\n"
				"logfile_rotate 0\n"
				"pinger_enable off\n"
				"dns_nameservers 127.0.0.1\n"
				% (listen.format(dir=d), extra, name, hosts, d, d, d, d))
		for f in os.listdir(d):
			chown_to(os.path.join(d, f), "proxy")
		chown_to(d, "proxy")
		return Service(name, ["squid", "-N", "-f", conf], d, port=port)

	def _start_squid_chain(self):
		version = version_of(["squid", "-v"])
		tls_port, front_port = free_port(), free_port()
		tls = self._squid("squid-tls", tls_port, "https_port 127.0.0.1:%d tls-cert={dir}/gateway.crt "
				  "tls-key={dir}/gateway.key" % tls_port, "")
		tls.version, tls.notes = version, "https_port tls-cert= (GnuTLS)"
		self._service(tls)
		front = self._squid("squid-front", front_port, "http_port 127.0.0.1:%d" % front_port,
				    "cache_peer %s parent %d 0 no-query no-digest no-netdb-exchange tls "
				    "tls-cafile=%s name=tlssquid\nnever_direct allow all\n"
				    % (GATEWAY_NAME, tls_port, os.path.join(self.dir, "squid-front", "ca.crt")))
		front.version, front.notes = version, "cache_peer ... tls, never_direct allow all"
		self._service(front)
		return Route("squid-chain", front.bench_args(), tls, front=front,
			     notes="Squid http_port, cache_peer to the TLS Squid's https_port with tls "
			     "tls-cafile= (a TLS connection per tunnel), never_direct")

	def health_check(self, bench):
		"""A few verified tunnels and setups through each route; a failing route is skipped."""
		for name, route in list(self.routes.items()):
			for args in (["--mode", "tunnel", "--direction", "both", "-s", "1k", "-c", "2", "-n", "4"],
				     ["--mode", "setup", "-c", "4", "-n", "8"]):
				r = bench.run(route, args + ["--target", self.target], timeout=60)
				if r.get("failed"):
					self.skipped[name] = "failed the health check (%s): %s" % (args[1], r["failed"])
					del self.routes[name]
					break

	# --- measuring ----------------------------------------------------------------

	def measure(self, bench, seconds, direct):
		"""Each workload through every route in turn.  direct: the main table's results
		straight to the origin by key, or None to measure that baseline here."""
		self.seconds = seconds
		for key, title, metric, unit, higher, args in workloads(self.target, seconds):
			w = {"key": key, "title": title, "metric": metric, "unit": unit, "higher": higher,
			     "results": {}}
			if direct and direct.get(DIRECT_KEYS[key]) is not None:
				w["results"]["direct"] = direct[DIRECT_KEYS[key]]
			else:
				say("%s: direct" % key)
				w["results"]["direct"] = bench.run(None, [self.origin.tcp if a == self.target
									  else a for a in args])
			for name in ROUTES:
				if name not in self.routes:
					continue
				route = self.routes[name]
				if route.keys is not None and key not in route.keys:
					continue
				say("%s: %s" % (key, name))
				before = route.gateway_counters()
				res = bench.run(route, args)
				after = route.gateway_counters()
				if before and after:
					res["gateway_connections"] = after[0] - before[0]
					res["gateway_tunnels"] = after[1] - before[1]
				res["front_pid"] = route.front.pid if route.front else None
				res["gateway_pid"] = route.gateway.pid
				w["results"][name] = res
			self.workloads.append(w)
		if "arcproxy-h2" in self.routes:
			self.measure_fairness(bench, seconds)
		self.measure_pairs(bench)

	def measure_pairs(self, bench):
		"""PAIRS' bulk rows again, PAIR_ROUNDS - 1 more rounds of the two routes back to back
		(the table's own measurements are the first round)."""
		for w in self.workloads:
			if w["key"] not in ("gw_tunnel_down", "gw_tunnel_up"):
				continue
			args = next(a for k, _, _, _, _, a in workloads(self.target, self.seconds)
				    if k == w["key"])
			for ours, theirs, _ in PAIRS:
				first = [self._value(w["results"].get(n), w["metric"]) for n in (ours, theirs)]
				if None in first:
					continue
				rounds = [first]
				for r in range(1, PAIR_ROUNDS):
					pair = {}
					for name in ((theirs, ours) if r % 2 else (ours, theirs)):
						say("%s, paired round %d: %s" % (w["key"], r + 1, name))
						pair[name] = self._value(bench.run(self.routes[name], args), w["metric"])
					if None in pair.values():
						break
					rounds.append([pair[ours], pair[theirs]])
				self.paired["%s %s %s" % (w["key"], ours, theirs)] = rounds

	def paired_ratio(self, key, ours, theirs):
		"""(median ratio, [ratio a round]) of PAIRS' rounds, or None."""
		rounds = self.paired.get("%s %s %s" % (key, ours, theirs))
		if not rounds:
			return None
		ratios = [a / b for a, b in rounds if a and b]
		return (statistics.median(ratios), ratios) if ratios else None

	def measure_fairness(self, bench, seconds):
		"""FAIR_CONNS downloads at once on arcproxy's h2 connection, then as many again
		beside one more that stops reading (--stall 1)."""
		args = ["--mode", "tunnel", "--direction", "down", "--target", self.target, "-s", "16M",
			"-d", "%g" % seconds, "--warmup", "0.5", "--drain"]
		for key, extra in (("all", ["-c", str(FAIR_CONNS)]),
				   ("stalled", ["-c", str(FAIR_CONNS + 1), "--stall", "1"])):
			say("fairness (%s): arcproxy-h2" % key)
			self.fairness[key] = bench.run(self.routes["arcproxy-h2"], args + extra)

	# --- the report -----------------------------------------------------------------

	def _by(self, key):
		return next((w for w in self.workloads if w["key"] == key), None)

	@staticmethod
	def _value(res, metric):
		if res is None or (res.get("failed") and not res.get("ops")):
			return None
		if metric.startswith("lat_"):
			return res["latency_ms"][metric[4:]]
		return res.get(metric)

	@staticmethod
	def _cpu(res, pid):
		for p in (res or {}).get("processes", []):
			if p["pid"] == pid:
				return p["cpu_seconds"]
		return None

	def columns(self):
		return ["direct"] + [r for r in ROUTES if r in self.routes]

	def rows(self):
		cols = self.columns()
		rows = []
		for w in self.workloads:
			vals, notes = {}, {}
			for t in cols:
				res = w["results"].get(t)
				if res is None:
					continue
				vals[t] = self._value(res, w["metric"])
				if res.get("failed"):
					notes[t] = res["failed"]
			rows.append((w["title"], w["unit"], w["higher"], vals, notes, w["key"]))
		setup = self._by("gw_setup")
		if setup:
			vals = {t: self._value(setup["results"].get(t), "lat_p50") for t in cols}
			rows.append(("tunnel setup p50: until the tunnel answered", "ms", False, vals, {},
				     "gw_setup_p50"))
			per = {}
			for t in cols[1:]:
				res = setup["results"].get(t) or {}
				if res.get("gateway_tunnels"):
					per[t] = res["gateway_connections"] / res["gateway_tunnels"]
				elif t == "cloudsim" and res.get("ops"):
					per[t] = 1.0	# arcbench --gateway: a TLS connection per tunnel
			rows.append(("TLS connections to the gateway per tunnel", "conn/tunnel", False,
				     per, {}, "gw_conn_per_tunnel"))
		return rows

	def _cpu_per(self, key, t, scale):
		"""(front CPU, gateway CPU) per MB downloaded or per tunnel set up, through t."""
		w = self._by(key)
		res = (w["results"].get(t) if w else None) or {}
		mb = {"gw_tunnel_down": "mb_down_per_s", "gw_tunnel_up": "mb_up_per_s"}.get(key)
		n = (res.get(mb) or 0) * (res.get("seconds") or 0) if mb else res.get("ops") or 0
		if not n:
			return None, None
		return tuple(None if c is None else c / n * scale
			     for c in (self._cpu(res, res.get(k)) for k in ("front_pid", "gateway_pid")))

	def cpu_rows(self):
		out = []
		for key, what, unit, scale in (("gw_tunnel_down", "per MB (download)", "ms/MB", 1e3),
					       ("gw_tunnel_up", "per MB (upload)", "ms/MB", 1e3),
					       ("gw_setup", "per tunnel (setup)", "us/tunnel", 1e6)):
			w = self._by(key)
			if w is None:
				continue
			front, gw = {}, {}
			for t in self.columns()[1:]:
				f, g = self._cpu_per(key, t, scale)
				if f is not None:
					front[t] = f
				if g is not None:
					gw[t] = g
			out.append(("front proxy CPU " + what, unit, front))
			out.append(("gateway CPU " + what, unit, gw))
		return out

	def checks(self):
		"""Closing lines: the ratios of issue 3, the targets of issue 5 (MET or MISSED)."""
		def val(key, t):
			w = self._by(key)
			return self._value(w["results"].get(t), w["metric"]) if w else None

		out = ["", "Ratios are against direct; front = the proxy arcbench talks to, gateway = "
		       "cloudsim or the TLS Squid."]
		keys = (("gw_tunnel_down", "download"), ("gw_tunnel_up", "upload"), ("gw_setup", "setup"))
		if "squid-chain" in self.routes:
			out.append("arcproxy -> cloudsim against Squid -> TLS Squid (issue 3):")
			for name, label in (("arcproxy-h2", "over h2"), ("arcproxy-h1", "over http/1.1")):
				if name not in self.routes:
					continue
				parts = []
				for key, what in keys:
					a, s = val(key, name), val(key, "squid-chain")
					parts.append("%s %s" % (what, "%.2fx" % (a / s) if a and s else "-"))
				out.append("  %-14s %s" % (label + ":", ", ".join(parts)))
		if "arcproxy-h2" in self.routes and "arcproxy-h1" in self.routes:
			out.append("h2 against http/1.1 on the gateway route (targets of issue 5):")

			def line(ok, text):
				out.append("  %-7s %s" % ("MET" if ok else "MISSED", text))

			h2, h1 = val("gw_setup", "arcproxy-h2"), val("gw_setup", "arcproxy-h1")
			if h2 and h1:
				res1 = self._by("gw_setup")["results"]["arcproxy-h1"]
				res2 = self._by("gw_setup")["results"]["arcproxy-h2"]
				per1 = res1.get("gateway_connections", 0) / res1["gateway_tunnels"] \
					if res1.get("gateway_tunnels") else None
				line(h2 >= 5 * h1, "tunnel setup: %s tunnels/s over h2 = %.2fx http/1.1's %s "
				     "(needs >= 5x)" % (fmt_num(h2, "tunnels/s"), h2 / h1, fmt_num(h1, "tunnels/s")))
				out.append("          (http/1.1: %s new TLS connection to the gateway per tunnel, %d "
					   "tunnels opening at once: the 2 warm"
					   % ("%.2f" % per1 if per1 is not None else "?", SETUP_CONNS))
				out.append("          connections are taken at once, and every tunnel waits for "
					   "its TCP connect, TLS handshake and CONNECT;")
				out.append("          h2: %s new connections for %s tunnels)"
					   % ("%d" % res2["gateway_connections"] if "gateway_connections" in res2
					      else "?", "{:,.0f}".format(res2.get("gateway_tunnels", 0))))
				busy = []
				for label, res in (("http/1.1", res1), ("h2", res2)):
					f, g = (self._cpu(res, res.get(k)) for k in ("front_pid", "gateway_pid"))
					if f is not None and g is not None and res.get("seconds"):
						busy.append("%s: arcproxy %.0f%%, cloudsim %.0f%%" % (
							label, 100 * f / res["seconds"], 100 * g / res["seconds"]))
				if busy:
					out.append("          (CPU busy in the window, of one core: %s)" % "; ".join(busy))
			for key, what in keys[:2]:
				h2, h1 = val(key, "arcproxy-h2"), val(key, "arcproxy-h1")
				if h2 and h1:
					line(h2 >= 0.9 * h1, "64 MiB %s: %s MB/s over h2 = %.2fx http/1.1's %s "
					     "(needs >= 0.90x)" % (what, fmt_num(h2, "MB/s"), h2 / h1,
								   fmt_num(h1, "MB/s")))
		return out

	def floor_lines(self):
		"""arcproxy's CPU per MB against bench/tlsfloor.c's, both directions, same run."""
		out = []
		for key, what in (("gw_tunnel_down", "download"), ("gw_tunnel_up", "upload")):
			f, _ = self._cpu_per(key, "arcproxy-h2", 1e3)
			fl, _ = self._cpu_per(key, "tlsfloor", 1e3)
			if f is None or not fl:
				continue
			line = ("          %s: arcproxy h2 %.3f ms per MB, the floor (bench/tlsfloor.c: "
				"TLS in, plain out) %.3f ms; arcproxy = %.2fx the floor" % (what, f, fl, f / fl))
			if key == "gw_tunnel_down":
				line += "; 0.6 ms is %s the floor" % ("BELOW" if 0.6 < fl else "above")
			out.append(line)
		if not out:
			out.append("          (the floor, bench/tlsfloor.c, not measured: %s)"
				   % self.skipped.get("tlsfloor", "route not run"))
		return out

	def checks16(self):
		"""The targets of issue 16, each MET or MISSED with its numbers."""
		out = ["The gateway route at TLS speed (targets of issue 16):"]

		def val(key, t):
			w = self._by(key)
			return self._value(w["results"].get(t), w["metric"]) if w else None

		def line(ok, text):
			out.append("  %-7s %s" % ("MET" if ok else "MISSED", text))

		def paired(key, ours, theirs, need, text):
			a, q = val(key, ours), val(key, theirs)
			pr = self.paired_ratio(key, ours, theirs)
			if pr is None:
				line(a / q >= need, text % (a / q))
				return
			line(pr[0] >= need, text % pr[0] + "; rounds, back to back: %s"
			     % ", ".join("%.2fx" % x for x in pr[1]))

		for key, what in (("gw_tunnel_down", "download"), ("gw_tunnel_up", "upload")):
			a, q = val(key, "arcproxy-h2"), val(key, "squid-chain")
			if a and q:
				paired(key, "arcproxy-h2", "squid-chain", 1.5,
				       "64 MiB %s: arcproxy h2 %s MB/s, Squid -> TLS Squid %s: median %%.2fx "
				       "(needs >= 1.5x)" % (what, fmt_num(a, "MB/s"), fmt_num(q, "MB/s")))
		f, g = self._cpu_per("gw_tunnel_down", "arcproxy-h2", 1e3)
		if f is not None:
			line(f <= 0.6, "arcproxy CPU per MB on the gateway route (h2 download): %.3f ms "
			     "(needs <= 0.6 ms)" % f)
		out += self.floor_lines()
		_, sq = self._cpu_per("gw_tunnel_down", "squid-chain", 1e3)
		if g is not None and sq is not None:
			line(g <= sq, "cloudsim CPU per MB (h2 download): %.3f ms, the TLS Squid's %.3f ms "
			     "(needs <= the TLS Squid's)" % (g, sq))
		for key, what in (("gw_tunnel_down", "download"), ("gw_tunnel_up", "upload")):
			h2, h1 = val(key, "arcproxy-h2"), val(key, "arcproxy-h1")
			if h2 and h1:
				line(h2 >= 0.9 * h1, "h2 bulk %s: %.2fx http/1.1 (needs >= 0.90x)" % (what, h2 / h1))
		h2, h1 = val("gw_setup", "arcproxy-h2"), val("gw_setup", "arcproxy-h1")
		if h2 and h1:
			line(h2 >= 5 * h1, "tunnel setup over h2: %.2fx http/1.1's rate (needs >= 5x)" % (h2 / h1))
		fa, fs = self.fairness.get("all") or {}, self.fairness.get("stalled") or {}
		if fa.get("jain") is not None and not fa.get("failed"):
			line(fa["jain"] >= 0.9, "fairness: %d downloads on one h2 connection, Jain's index "
			     "%.3f (needs >= 0.9), %s MB/s in all" % (FAIR_CONNS, fa["jain"],
								  fmt_num(fa.get("mb_down_per_s"), "MB/s")))
		else:
			line(False, "fairness: %d downloads on one h2 connection: %s" % (
				FAIR_CONNS, fa.get("failed") or "not measured (arcproxy-h2 not run)"))
		if fs.get("jain") is not None and fa.get("mb_down_per_s") and not fs.get("failed"):
			ratio = (fs.get("mb_down_per_s") or 0) / fa["mb_down_per_s"]
			line(ratio >= 0.9 and fs["jain"] >= 0.9,
			     "a stalled reader beside them: the %d others move %.2fx as much (needs >= "
			     "0.90x), Jain's index %.3f" % (FAIR_CONNS, ratio, fs["jain"]))
		else:
			line(False, "a stalled reader beside %d downloads: %s" % (
				FAIR_CONNS, fs.get("failed") or "not measured"))
		for key, what in (("gw_tunnel_down", "download"), ("gw_tunnel_up", "upload")):
			a, n = val(key, "arcproxy-nghttpx"), val(key, "nghttpx")
			if a and n:
				paired(key, "arcproxy-nghttpx", "nghttpx", 0.8,
				       "64 MiB %s: arcproxy h2 -> nghttpx %s MB/s, nghttpx's own limit %s: "
				       "median %%.2fx (needs >= 0.80x)" % (what, fmt_num(a, "MB/s"),
									  fmt_num(n, "MB/s")))
			else:
				line(False, "64 MiB %s through nghttpx: not measured (%s)" % (
					what, self.skipped.get("arcproxy-nghttpx") or self.skipped.get("nghttpx")
					or "route not run"))
		out.append("  (the direct route's gaps, small GETs >= 0.5x and 64 MiB tunnels >= 0.9x direct, "
			   "are the main table's issue 6 lines)")
		base = [(n, n + "-base") for n in ("arcproxy-h2", "arcproxy-h1") if n + "-base" in self.routes]
		if base:
			out.append("")
			out.append("ours / base (BENCH_BASE_BIN: its arcproxy and cloudsim), same run:")
			for ours, theirs in base:
				parts = []
				for key, what in (("gw_tunnel_down", "download"), ("gw_tunnel_up", "upload"),
						  ("gw_setup", "setup")):
					a, b = val(key, ours), val(key, theirs)
					parts.append("%s %s" % (what, "%.2fx" % (a / b) if a and b else "-"))
				for key, what in (("gw_tunnel_down", "down"), ("gw_tunnel_up", "up")):
					for label, i in (("front", 0), ("gateway", 1)):
						a = self._cpu_per(key, ours, 1e3)[i]
						b = self._cpu_per(key, theirs, 1e3)[i]
						parts.append("%s CPU/MB %s %s" % (label, what,
							     "%.2fx" % (a / b) if a and b else "-"))
				out.append("  %-14s %s" % (HEADERS[ours] + ":", ", ".join(parts)))
		return out

	def report(self):
		"""The section's table, CPU rows and closing lines, as text."""
		if not self.workloads:
			return ""
		footer = self.checks() + [""] + self.checks16()
		failures = []
		for w in self.workloads:
			for t, res in w["results"].items():
				if res and res.get("failed") and t != "direct":
					failures.append("  %s via %s: %s" % (w["key"], t, res["failed"]))
		if failures:
			footer += ["", "failures on the gateway route:"] + failures
		for name, why in self.skipped.items():
			footer.append("skipped %s: %s" % (name, why))
		head = ["The gateway route (issues 3 and 5): arcbench -> [front proxy] -> gateway -> %s,"
			% self.target, "benchorigin's raw TCP port; %s s per measurement, tunnels under way "
			"at the end finished (--drain)." % fmt_num(self.seconds, "s")]
		head += ["  %s: %s" % (HEADERS[n], self.routes[n].notes) for n in ("cloudsim", "squid-chain",
										 "nghttpx") if n in self.routes]
		return "\n".join(head + [""]) + render_table(self.rows(), self.columns(),
							      self.cpu_rows(), footer, headers=HEADERS)

	def processes(self):
		"""Whole-run usage of every process the section started."""
		out = {}
		for svc in self.services:
			cpu, hwm = svc.usage()
			out[svc.name] = {"pid": svc.pid, "port": svc.port, "version": svc.version,
					 "notes": svc.notes, "cpu_seconds": cpu, "peak_rss_kib": hwm}
		return out

	def results(self):
		return {"target": self.target, "seconds": self.seconds, "fairness": self.fairness,
			"paired": self.paired,
			"routes": {n: {"notes": r.notes, "pids": r.sample_pids()}
				   for n, r in self.routes.items()},
			"workloads": self.workloads, "skipped": self.skipped}

	def stop(self):
		for svc in reversed(self.services):
			svc.stop()
