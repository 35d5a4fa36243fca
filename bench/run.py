#!/usr/bin/env python3
"""run.py -- `make bench`: arcproxy side by side with Traffic Server, Squid and tinyproxy, on loopback.

Installs the peers when they are missing (Debian packages, as root), starts benchorigin and
every proxy on free loopback ports, each from its own generated config in a temp dir (nothing
under /etc changes), runs the same arcbench workloads against each and against the origin
directly (the baseline), prints one table with absolute numbers and ratios, and writes
bench/results/<name>.json, <name>.txt and <name>-latency.png (gnuplot).

usage: python3 bench/run.py [--bin DIR] [--seconds S] [--name NAME] [--only a,b] [--keep]
Environment: BENCH_SECONDS (seconds per measurement, default 4), BENCH_NAME (default: the
UTC time), BENCH_ONLY (comma-separated proxies), BENCH_KEEP=1 (keep the temp dir).
"""

import argparse
import datetime
import json
import os
import platform
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PEERS = ["trafficserver", "squid", "tinyproxy"]
PROXIES = ["arcproxy"] + PEERS
PEER_PACKAGES = {"trafficserver": "trafficserver", "squid": "squid", "tinyproxy": "tinyproxy"}
CHART_PACKAGE = "gnuplot-nox"
IDLE_TUNNELS = 5000
START_TIMEOUT = 30
LATENCY_ROUNDS = 3


def say(msg):
	print("bench: " + msg, flush=True)


def is_root():
	return os.geteuid() == 0


# --- packages and users --------------------------------------------------------

def pkg_installed(pkg):
	p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
	return p.returncode == 0 and "install ok installed" in p.stdout


def install_missing(pkgs):
	"""apt-get install what is missing, as root; returns the packages still missing."""
	missing = [p for p in pkgs if not pkg_installed(p)]
	if not missing:
		return []
	if not is_root():
		say("missing Debian packages: %s (run as root, or: sudo apt-get install %s)"
		    % (" ".join(missing), " ".join(missing)))
		return missing
	say("installing %s" % " ".join(missing))
	env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
	subprocess.run(["apt-get", "update", "-qq"], env=env, timeout=600)
	subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env, timeout=1200)
	return [p for p in missing if not pkg_installed(p)]


def ensure_user(name):
	try:
		return pwd.getpwnam(name)
	except KeyError:
		pass
	if not is_root():
		return None
	subprocess.run(["useradd", "--system", "--no-create-home", name], check=True, timeout=60)
	return pwd.getpwnam(name)


def chown_to(path, user):
	if is_root() and user:
		pw = pwd.getpwnam(user)
		os.chown(path, pw.pw_uid, pw.pw_gid)


# --- processes -------------------------------------------------------------------

_ports = set()


def free_port():
	for _ in range(100):
		s = socket.socket()
		s.bind(("127.0.0.1", 0))
		port = s.getsockname()[1]
		s.close()
		if port not in _ports:
			_ports.add(port)
			return port
	raise RuntimeError("no free loopback port")


def port_open(port):
	try:
		socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
		return True
	except OSError:
		return False


class Service:
	"""A process this run started, with its stdout and stderr in a file."""

	def __init__(self, name, argv, cwd, env=None, port=None):
		self.name, self.argv, self.cwd, self.port = name, argv, cwd, port
		self.log_path = os.path.join(cwd, "output.log")
		self.log = open(self.log_path, "ab")
		self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
					     stdout=self.log, stderr=self.log, start_new_session=True)

	@property
	def pid(self):
		return self.proc.pid

	def alive(self):
		return self.proc.poll() is None

	def wait_listening(self, timeout=START_TIMEOUT):
		deadline = time.monotonic() + timeout
		for _ in range(int(timeout / 0.1) + 1):
			if not self.alive():
				return False
			if port_open(self.port):
				return True
			if time.monotonic() > deadline:
				break
			time.sleep(0.1)
		return False

	def tail(self, n=5):
		try:
			with open(self.log_path, "rb") as f:
				lines = f.read().decode("utf-8", "replace").splitlines()
		except OSError:
			return ""
		return " | ".join(lines[-n:])

	def usage(self):
		"""(CPU seconds, peak RSS KiB) of the process so far."""
		try:
			with open("/proc/%d/stat" % self.pid) as f:
				fields = f.read().rsplit(")", 1)[1].split()
			cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
			hwm = 0
			with open("/proc/%d/status" % self.pid) as f:
				for line in f:
					if line.startswith("VmHWM:"):
						hwm = int(line.split()[1])
			return cpu, hwm
		except (OSError, IndexError, ValueError):
			return None, None

	def stop(self):
		if self.proc.poll() is None:
			try:
				self.proc.send_signal(signal.SIGTERM)
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				try:
					self.proc.wait(5)
				except subprocess.TimeoutExpired:
					pass
		self.log.close()


def version_of(argv, pick=lambda s: s.splitlines()[0] if s else "?"):
	try:
		p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
		return pick((p.stdout or p.stderr).strip())
	except (OSError, subprocess.TimeoutExpired):
		return "?"


# --- the origin and the proxies ---------------------------------------------------

class Origin:
	def __init__(self, bin_dir, work):
		d = os.path.join(work, "origin")
		os.mkdir(d)
		self.proc = subprocess.Popen([str(bin_dir / "benchorigin"), "-t", "2", "--http", "0",
					      "--tls", "0", "--tcp", "0"], cwd=d, stdout=subprocess.PIPE,
					     stderr=open(os.path.join(d, "stderr.log"), "wb"),
					     stdin=subprocess.DEVNULL, start_new_session=True)
		ready, _, _ = select.select([self.proc.stdout], [], [], 10)
		line = self.proc.stdout.readline().decode() if ready else ""
		ports = dict(kv.split("=") for kv in line.split()[1:])
		if "http" not in ports:
			self.stop()
			raise RuntimeError("benchorigin did not start: %r" % line)
		self.http = "127.0.0.1:%s" % ports["http"]
		self.tls = "127.0.0.1:%s" % ports["tls"]
		self.tcp = "127.0.0.1:%s" % ports["tcp"]

	def stop(self):
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(5)
			except subprocess.TimeoutExpired:
				self.proc.kill()


def start_arcproxy(work, bin_dir):
	d = os.path.join(work, "arcproxy")
	conf, state = os.path.join(d, "conf"), os.path.join(d, "state")
	for p in (d, conf, state):
		os.mkdir(p)
		os.chmod(p, 0o755)
	if is_root() and not ensure_user("arcproxy"):
		raise RuntimeError("cannot create the user arcproxy")
	chown_to(state, "arcproxy")
	port = free_port()
	with open(os.path.join(conf, "arcproxy.conf"), "w") as f:
		f.write("# generated by bench/run.py: one worker, direct to the origin on loopback\n"
			'listen = [ "127.0.0.1:%d" ];\n'
			'admin_listen = "";\n'
			"workers = 1;\n"
			'routes = ( { match = "127.0.0.1"; route = "direct"; } );\n'
			'default_route = "deny";\n'
			'dns_servers = [ "127.0.0.1" ];\n'
			'access_log = "access.log";\n' % port)
	os.chmod(os.path.join(conf, "arcproxy.conf"), 0o644)
	svc = Service("arcproxy", [str(bin_dir / "arcproxy"), "-d", "--config-dir", conf,
				   "--state-dir", state], d, port=port)
	svc.version = "arcproxy " + version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
	svc.notes = "workers = 1; access log on"
	return svc


def start_trafficserver(work):
	d = os.path.join(work, "trafficserver")
	os.mkdir(d)
	os.chmod(d, 0o777)
	chown_to(d, "trafficserver")
	port = free_port()
	# Settings from the environment: no file under /etc changes.
	env = dict(os.environ,
		   PROXY_CONFIG_HTTP_SERVER_PORTS="%d:ip-in=127.0.0.1" % port,
		   PROXY_CONFIG_URL_REMAP_REMAP_REQUIRED="0",
		   PROXY_CONFIG_REVERSE_PROXY_ENABLED="0",
		   PROXY_CONFIG_HTTP_CACHE_HTTP="0",
		   PROXY_CONFIG_EXEC_THREAD_AUTOCONFIG="0",
		   PROXY_CONFIG_EXEC_THREAD_LIMIT="1",
		   PROXY_CONFIG_HTTP_CONNECT_PORTS="1-65535",
		   PROXY_CONFIG_LOG_LOGFILE_DIR=d,
		   PROXY_CONFIG_LOCAL_STATE_DIR=d,	# its lock file: no clash with another
		   PROXY_CONFIG_DNS_NAMESERVERS="127.0.0.1")
	svc = Service("trafficserver", ["traffic_server"], d, env=env, port=port)
	svc.version = version_of(["traffic_server", "--version"])
	svc.notes = "1 net thread; cache off; squid log (binary)"
	return svc


def start_squid(work):
	d = os.path.join(work, "squid")
	os.mkdir(d)
	os.chmod(d, 0o755)
	chown_to(d, "proxy")
	port = free_port()
	conf = os.path.join(d, "squid.conf")
	with open(conf, "w") as f:
		f.write("# generated by bench/run.py: one worker, no cache\n"
			"http_port 127.0.0.1:%d\n"
			"workers 1\n"
			"http_access allow all\n"
			"cache deny all\n"
			"cache_mem 0 MB\n"
			"access_log stdio:%s/access.log squid\n"
			"cache_log %s/cache.log\n"
			"cache_store_log none\n"
			"pid_filename %s/squid.pid\n"
			"coredump_dir %s\n"
			"max_filedescriptors 20000\n"
			"shutdown_lifetime 1 seconds\n"
			"logfile_rotate 0\n"
			"pinger_enable off\n"
			"dns_nameservers 127.0.0.1\n" % (port, d, d, d, d))
	svc = Service("squid", ["squid", "-N", "-f", conf], d, port=port)
	svc.version = version_of(["squid", "-v"])
	svc.notes = "workers 1; cache deny all; access log on"
	return svc


def start_tinyproxy(work):
	d = os.path.join(work, "tinyproxy")
	os.mkdir(d)
	os.chmod(d, 0o755)
	chown_to(d, "nobody")
	port = free_port()
	conf = os.path.join(d, "tinyproxy.conf")
	with open(conf, "w") as f:
		f.write("# generated by bench/run.py\n")
		if is_root():
			f.write("User nobody\nGroup nogroup\n")
		f.write("Port %d\nListen 127.0.0.1\nTimeout 600\nMaxClients 8000\nAllow 127.0.0.1\n"
			'LogFile "%s/access.log"\nLogLevel Connect\nPidFile "%s/tinyproxy.pid"\n'
			% (port, d, d))
	svc = Service("tinyproxy", ["tinyproxy", "-d", "-c", conf], d, port=port)
	svc.version = version_of(["tinyproxy", "-v"])
	svc.notes = "a thread per connection (no worker setting); LogLevel Connect"
	return svc


STARTERS = {"trafficserver": start_trafficserver, "squid": start_squid, "tinyproxy": start_tinyproxy}
BINARIES = {"trafficserver": "traffic_server", "squid": "squid", "tinyproxy": "tinyproxy"}


# --- arcbench ----------------------------------------------------------------------

class Bench:
	def __init__(self, bin_dir, seconds):
		self.exe = str(bin_dir / "arcbench")
		self.seconds = seconds

	def run(self, target, args, pid=None, timeout=None):
		"""arcbench --json against target (a Service, or None for direct); returns its JSON."""
		argv = [self.exe, "--json", "-t", "2", "--label", target.name if target else "direct"]
		argv += ["--proxy", "127.0.0.1:%d" % target.port] if target else ["--direct"]
		if target is not None:
			argv += ["--pid", str(target.pid)]
		argv += args
		try:
			p = subprocess.run(argv, capture_output=True, text=True,
					   timeout=timeout or self.seconds + 90)
		except subprocess.TimeoutExpired:
			return {"failed": "arcbench did not finish in time"}
		try:
			res = json.loads(p.stdout)
		except ValueError:
			err = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[0]
			return {"failed": err}
		res["exit"] = p.returncode
		if p.returncode != 0:
			res["failed"] = "errors: " + ", ".join(
				"%s %d" % (k, v) for k, v in res["errors"].items() if k != "total") \
				if res["errors"]["total"] else "no verified operation"
		return res


def workloads(o, seconds):
	"""The timed workloads: key, row title, metric, unit, higher-is-better, arcbench args."""
	timed = ["-d", str(seconds), "--warmup", "0.5"]
	return [
		("get_small", "GET 100 B, keep-alive, 64 conns", "ops_per_s", "req/s", True,
		 ["--mode", "http", "--target", o.http, "-s", "100", "-c", "64"] + timed),
		("get_1m", "GET 1 MiB, 8 conns", "mb_per_s", "MB/s", True,
		 ["--mode", "http", "--target", o.http, "-s", "1M", "-c", "8"] + timed),
		("https_1m", "HTTPS GET 1 MiB in CONNECT, 8 conns", "mb_per_s", "MB/s", True,
		 ["--mode", "http", "--tls", "--target", o.tls, "-s", "1M", "-c", "8"] + timed),
		("tunnel_down", "64 MiB tunnel download", "mb_per_s", "MB/s", True,
		 ["--mode", "tunnel", "--direction", "down", "--target", o.tcp, "-s", "64M", "-c", "1"]
		 + timed),
		("tunnel_up", "64 MiB tunnel upload", "mb_per_s", "MB/s", True,
		 ["--mode", "tunnel", "--direction", "up", "--target", o.tcp, "-s", "64M", "-c", "1"]
		 + timed),
		("setup", "tunnel setup (open, 64 B each way, close)", "ops_per_s", "tunnels/s", True,
		 ["--mode", "setup", "--target", o.tcp, "-s", "64", "-c", "16"] + timed),
	]


def health_check(bench, origin, svc):
	"""A few verified requests and tunnels; None when fine, else the reason."""
	r = bench.run(svc, ["--mode", "http", "--target", origin.http, "-s", "1000", "-c", "2", "-n", "20"],
		      timeout=60)
	if r.get("failed"):
		return "GET through it: " + r["failed"]
	r = bench.run(svc, ["--mode", "tunnel", "--target", origin.tcp, "-s", "1k", "--direction", "both",
			    "-c", "2", "-n", "4"], timeout=60)
	if r.get("failed"):
		return "CONNECT through it: " + r["failed"]
	return None


# --- the table -----------------------------------------------------------------------

def fmt_num(v, unit):
	if v is None:
		return "-"
	if unit in ("ms", "KiB/tunnel", "us/req", "ms/MB"):
		return "%.3g" % v if v < 10 else "%.1f" % v if v < 1000 else "{:,.0f}".format(v)
	return "{:,.0f}".format(v) if v >= 100 else "%.1f" % v


def metric_of(res, key):
	if res is None or "failed" in res and res.get("ops", 0) == 0 and key != "rss":
		return None
	if key.startswith("lat_"):
		return res["latency_ms"][key[4:]]
	if key == "rss":
		pp = res.get("proxy_process")
		return pp.get("rss_kib_per_tunnel") if pp and res.get("held") else None
	return res.get(key)


def build_rows(results, targets, rate):
	"""Rows of (title, unit, higher_is_better, {target: value}, {target: failed-note})."""
	rows = []
	for w in results["workloads"]:
		vals, notes = {}, {}
		for t in targets:
			res = w["results"].get(t)
			if res is None:
				continue
			vals[t] = metric_of(res, w["metric"])
			if res.get("failed"):
				notes[t] = res["failed"]
		rows.append((w["title"], w["unit"], w["higher"], vals, notes, w["key"]))
	return rows


def render_table(rows, targets, cpu_rows, footer):
	colw = 22
	head = "%-44s %-10s" % ("workload", "unit") + "".join("%*s" % (colw, t) for t in targets)
	out = [head, "-" * len(head)]
	for title, unit, higher, vals, notes, key in rows:
		base = vals.get("direct")
		cells = []
		for t in targets:
			v = vals.get(t)
			if t not in vals:
				cells.append("%*s" % (colw, "n/a"))
				continue
			s = fmt_num(v, unit)
			if t != "direct" and v is not None and base:
				s += " %.2fx" % (v / base)
			if t in notes:
				s += " !"
			cells.append("%*s" % (colw, s))
		out.append("%-44s %-10s" % (title[:44], unit) + "".join(cells))
	out.append("-" * len(head))
	for title, unit, vals in cpu_rows:
		out.append("%-44s %-10s" % (title[:44], unit) +
			   "".join("%*s" % (colw, fmt_num(vals.get(t), unit) if t in vals else "-")
				   for t in targets))
	out += footer
	return "\n".join(out)


def best_peer(vals, higher):
	peers = [(v, t) for t, v in vals.items() if t in PEERS and v is not None]
	if not peers:
		return None, None
	return max(peers) if higher else min(peers)


def target_checks(rows):
	"""The issue's targets for arcproxy, each MET or MISSED with its numbers."""
	by = {r[5]: r for r in rows}
	out = []

	def line(ok, text):
		out.append("  %-7s %s" % ("MET" if ok else "MISSED", text))

	r = by.get("get_small")
	if r and r[3].get("arcproxy") is not None:
		a, d = r[3]["arcproxy"], r[3].get("direct")
		bv, bt = best_peer(r[3], True)
		ok = (bv is None or a > bv) and (d is None or a >= 0.5 * d)
		line(ok, "small GETs: %s req/s = %.2fx direct (needs >= 0.50x), %s best peer %s %s"
		     % (fmt_num(a, "req/s"), a / d if d else 0,
			"%.2fx" % (a / bv) if bv else "-", bt or "-", fmt_num(bv, "req/s")))
	for key, name in (("tunnel_down", "64 MiB tunnel download"), ("tunnel_up", "64 MiB tunnel upload")):
		r = by.get(key)
		if r and r[3].get("arcproxy") is not None and r[3].get("direct"):
			a, d = r[3]["arcproxy"], r[3]["direct"]
			line(a >= 0.9 * d, "%s: %s MB/s = %.2fx direct (needs >= 0.90x)" % (name, fmt_num(a, "MB/s"), a / d))
	r = by.get("idle")
	if r and r[3].get("arcproxy") is not None:
		a = r[3]["arcproxy"]
		line(a <= 8.0, "idle tunnels: %.2f KiB RSS each (needs <= 8 KiB)" % a)
	r = by.get("lat_p99")
	if r and r[3].get("arcproxy") is not None:
		a = r[3]["arcproxy"]
		bv, bt = best_peer(r[3], False)
		line(bv is None or a <= bv, "p99 latency at the fixed rate: %.3f ms (best peer %s %.3f ms)"
		     % (a, bt or "-", bv or 0))
	return out


# --- the chart ------------------------------------------------------------------------

def chart(latency, targets, rate, png, work):
	if shutil.which("gnuplot") is None:
		return "gnuplot not found: no chart"
	cols = [t for t in targets if latency.get(t) and "latency_ms" in latency[t]]
	if not cols:
		return "no latency results: no chart"
	qs = ["p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max"]
	data = os.path.join(work, "latency.dat")
	with open(data, "w") as f:
		f.write("percentile " + " ".join(cols) + "\n")
		for q in qs:
			f.write(q + " " + " ".join("%.6f" % max(latency[t]["latency_ms"][q], 0.001)
						   for t in cols) + "\n")
	script = os.path.join(work, "latency.gp")
	with open(script, "w") as f:
		f.write('set terminal pngcairo size 960,560 font ",10"\n'
			'set output "%s"\n'
			'set title "GET 100 B at %.0f req/s, 64 conns: latency by percentile '
			'(median round of 3; lower is better)"\n'
			'set logscale y\nset ylabel "ms (log scale)"\nset xlabel "percentile"\n'
			'set grid ytics mytics\nset key outside right top\nset style data linespoints\n'
			'plot for [i=2:%d] "%s" using i:xtic(1) title columnheader(i) lw 2 pt 7\n'
			% (png, rate, len(cols) + 1, data))
	p = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=60)
	return None if p.returncode == 0 else "gnuplot failed: " + p.stderr.strip()[:200]


# --- the run ---------------------------------------------------------------------------

def machine_info():
	model = "?"
	try:
		with open("/proc/cpuinfo") as f:
			for line in f:
				if line.startswith("model name"):
					model = line.split(":", 1)[1].strip()
					break
	except OSError:
		pass
	return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
		"python": platform.python_version(), "load_average_at_start": os.getloadavg()[0]}


def git_describe():
	rev = version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
	dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
			       capture_output=True, text=True).stdout.strip()
	return rev + ("-dirty" if dirty else "")


def main(argv):
	ap = argparse.ArgumentParser(description="arcproxy and its peers, side by side")
	ap.add_argument("--bin", default=str(REPO / "build" / "bin"))
	ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS") or 4))
	ap.add_argument("--name", default=os.environ.get("BENCH_NAME") or
			datetime.datetime.utcnow().strftime("%Y%m%dT%H%MZ"))
	ap.add_argument("--only", default=os.environ.get("BENCH_ONLY") or ",".join(PROXIES))
	ap.add_argument("--keep", action="store_true", default=os.environ.get("BENCH_KEEP") == "1")
	ap.add_argument("--no-install", action="store_true")
	a = ap.parse_args(argv)
	bin_dir = Path(a.bin)
	if not bin_dir.is_absolute():
		bin_dir = REPO / bin_dir
	wanted = [p.strip() for p in a.only.split(",") if p.strip()]
	unknown = [p for p in wanted if p not in PROXIES]
	if unknown:
		say("unknown proxy %s; choose from %s" % (", ".join(unknown), ", ".join(PROXIES)))
		return 2
	if not (1 <= a.seconds <= 600):
		say("BENCH_SECONDS must be from 1 to 600")
		return 2
	for exe in ("arcbench", "benchorigin") + (("arcproxy",) if "arcproxy" in wanted else ()):
		if not (bin_dir / exe).exists():
			say("%s not found in %s: run make first" % (exe, bin_dir))
			return 2

	skipped = {}
	pkgs = [PEER_PACKAGES[p] for p in wanted if p in PEERS] + [CHART_PACKAGE]
	missing = [] if a.no_install else install_missing(pkgs)
	for p in wanted:
		if p in PEERS and shutil.which(BINARIES[p]) is None:
			skipped[p] = "not installed (%s)" % PEER_PACKAGES[p]
	started = time.monotonic()
	work = tempfile.mkdtemp(prefix="arcbench-")
	os.chmod(work, 0o755)
	services, origin, latency = {}, None, {}
	results = {"name": a.name, "date": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
		   "machine": machine_info(), "bench_seconds": a.seconds, "git": git_describe(),
		   "proxies": {}, "workloads": [], "skipped": skipped}
	bench = Bench(bin_dir, a.seconds)
	try:
		origin = Origin(bin_dir, work)
		say("origin: http %s, tls %s, tcp %s" % (origin.http, origin.tls, origin.tcp))
		for name in wanted:
			if name in skipped:
				continue
			try:
				svc = start_arcproxy(work, bin_dir) if name == "arcproxy" else STARTERS[name](work)
			except (OSError, RuntimeError, subprocess.SubprocessError) as e:
				skipped[name] = "cannot start: %s" % e
				continue
			if not svc.wait_listening():
				skipped[name] = "did not listen within %ds: %s" % (START_TIMEOUT, svc.tail())
				svc.stop()
				continue
			services[name] = svc
			say("%s: pid %d, port %d (%s)" % (name, svc.pid, svc.port, svc.version))
		for name, svc in list(services.items()):
			why = health_check(bench, origin, svc)
			if why:
				skipped[name] = "failed the health check: %s" % why
				svc.stop()
				del services[name]
		proxies = [p for p in wanted if p in services]
		targets = ["direct"] + proxies
		if "arcproxy" in skipped:
			say("arcproxy: %s" % skipped["arcproxy"])
		for p, why in skipped.items():
			say("skipping %s: %s" % (p, why))

		# 1. Idle tunnels first, on processes that have done little else.
		idle = {"key": "idle", "title": "idle tunnels: RSS growth for %d" % IDLE_TUNNELS,
			"metric": "rss", "unit": "KiB/tunnel", "higher": False, "results": {}}
		for p in proxies:
			say("idle: %d tunnels through %s" % (IDLE_TUNNELS, p))
			idle["results"][p] = bench.run(services[p], [
				"--mode", "idle", "--target", origin.tcp, "-c", str(IDLE_TUNNELS),
				"-d", "60", "--hold", "1", "--timeout", "30"], timeout=150)
		# 2. The timed workloads, each through every target in turn, so that the
		# machine's drift touches all alike.
		for key, title, metric, unit, higher, args in workloads(origin, a.seconds):
			w = {"key": key, "title": title, "metric": metric, "unit": unit, "higher": higher,
			     "results": {}}
			for t in targets:
				say("%s: %s" % (key, t))
				w["results"][t] = bench.run(services.get(t), args)
			results["workloads"].append(w)
		# 3. Latency at a fixed rate: half of Squid's maximum small-GET rate.
		small = results["workloads"][0]["results"]
		ref = "squid" if metric_of(small.get("squid"), "ops_per_s") else None
		if ref is None:
			peers = [(metric_of(small.get(p), "ops_per_s") or 0, p) for p in proxies]
			ref = min(peers)[1] if peers else "direct"
		rate = max(100.0, 0.5 * (metric_of(small.get(ref), "ops_per_s") or 200.0))
		# Tails are what a noisy machine disturbs most: three rounds, in turn,
		# and each target's round with the median p99 is the one reported.
		rounds = {t: [] for t in targets}
		for r in range(LATENCY_ROUNDS):
			for t in targets[r % len(targets):] + targets[:r % len(targets)]:
				say("latency at %.0f req/s, round %d: %s" % (rate, r + 1, t))
				rounds[t].append(bench.run(services.get(t), [
					"--mode", "http", "--target", origin.http, "-s", "100", "-c", "64",
					"-R", "%.1f" % rate, "-d", str(a.seconds), "--warmup", "0.5"]))
		for t in targets:
			ok = sorted((x for x in rounds[t] if "latency_ms" in x),
				    key=lambda x: x["latency_ms"]["p99"])
			latency[t] = dict(ok[len(ok) // 2]) if ok else rounds[t][0]
			latency[t]["rounds_p99_ms"] = [x["latency_ms"]["p99"] for x in ok]
		results["workloads"].append(idle)
		for q in ("p50", "p99", "p99.9"):
			results["workloads"].append({
				"key": "lat_" + q, "title": "latency %s, %.0f req/s (half %s max)"
				% (q, rate, ref), "metric": "lat_" + q, "unit": "ms", "higher": False,
				"results": latency})
		results["rate"] = {"requests_per_s": rate, "half_of": ref}

		# Whole-run usage of each proxy process.
		for p in proxies:
			cpu, hwm = services[p].usage()
			results["proxies"][p] = {"pid": services[p].pid, "port": services[p].port,
						 "version": services[p].version, "notes": services[p].notes,
						 "cpu_seconds": cpu, "peak_rss_kib": hwm}
	finally:
		for svc in services.values():
			svc.stop()
		if origin is not None:
			origin.stop()

	# The report.
	targets = ["direct"] + [p for p in wanted if p in results["proxies"]]
	rows = build_rows(results, targets, results.get("rate", {}).get("requests_per_s"))
	per_req = {}
	for t in targets[1:]:
		r = results["workloads"][0]["results"].get(t) or {}
		pp = r.get("proxy_process")
		if pp and r.get("ops"):
			per_req[t] = pp["cpu_seconds"] / r["ops"] * 1e6
	per_mb = {}
	for t in targets[1:]:
		r = next(w for w in results["workloads"] if w["key"] == "tunnel_down")["results"].get(t) or {}
		pp = r.get("proxy_process")
		mb = (r.get("mb_down_per_s") or 0) * (r.get("seconds") or 0)
		if pp and mb:
			per_mb[t] = pp["cpu_seconds"] / mb * 1e3
	cpu_rows = [
		("proxy CPU per small GET", "us/req", per_req),
		("proxy CPU per MB tunnelled (download)", "ms/MB", per_mb),
		("proxy CPU, whole run", "s", {t: v["cpu_seconds"] for t, v in results["proxies"].items()}),
		("proxy peak RSS, whole run", "MiB", {t: (v["peak_rss_kib"] or 0) / 1024
						      for t, v in results["proxies"].items()}),
	]
	footer = ["", "Ratios are against direct (the same work without a proxy). ! = some operations "
		  "failed verification (see below).", "", "arcproxy against the targets of issue 6:"]
	footer += target_checks(rows)
	failures = []
	for w in results["workloads"]:
		for t, res in w["results"].items():
			if res and res.get("failed") and (w["key"], t) not in [(f[0], f[1]) for f in failures]:
				if not w["key"].startswith("lat_") or w["key"] == "lat_p50":
					failures.append((w["key"], t, res["failed"]))
	if failures:
		footer += ["", "failures:"] + ["  %s via %s: %s" % f for f in failures]
	for p, why in skipped.items():
		footer.append("skipped %s: %s" % (p, why))
	footer += ["", "versions: " + "; ".join("%s = %s (%s)" % (t, v["version"], v["notes"])
						 for t, v in results["proxies"].items())]
	footer.append("machine: %d CPUs, %s, Linux %s, load average %.2f at the start; %s s per "
		      "measurement; the run took %.0f s"
		      % (results["machine"]["cpus"] or 0, results["machine"]["cpu_model"],
			 results["machine"]["kernel"], results["machine"]["load_average_at_start"],
			 fmt_num(a.seconds, "s"), time.monotonic() - started))
	table = render_table(rows, targets, cpu_rows, footer)
	print()
	print(table, flush=True)
	results["table"] = table
	RESULTS.mkdir(parents=True, exist_ok=True)
	base = RESULTS / a.name
	png = str(base) + "-latency.png"
	why = chart(latency, targets,
		    results.get("rate", {}).get("requests_per_s", 0), png, work)
	if why:
		say(why)
	else:
		results["chart"] = os.path.basename(png)
	with open(str(base) + ".json", "w") as f:
		json.dump(results, f, indent=1)
	with open(str(base) + ".txt", "w") as f:
		f.write(table + "\n")
	say("wrote %s.json, %s.txt%s" % (base.relative_to(REPO), base.name,
					 "" if why else ", " + os.path.basename(png)))
	if not a.keep:
		shutil.rmtree(work, ignore_errors=True)
	else:
		say("kept %s" % work)
	return 0 if "arcproxy" in results["proxies"] or "arcproxy" not in wanted else 1


if __name__ == "__main__":
	sys.exit(main(sys.argv[1:]))
