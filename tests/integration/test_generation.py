"""One config generation per request: a SIGHUP never mixes one config's rules with another's
proxy settings or pooled connections.

Expectations:
- A burst of keep-alive requests while SIGHUP flips the config from A (gen.test:PORT goes to
  the proxy route, proxy.url = P1) to B (gen.test:PORT goes direct, to P2's port; proxy.url =
  P2): every request's access-log route and the listener that received it agree: "proxy" only
  ever arrives at P1 as a CONNECT, "direct" only at P2 as a plain request; both occur.
- The idle pool is keyed by generation: after a SIGHUP from proxy.url = P1 to P2 (same rule,
  route "proxy"), new requests reach P2 even while a connection through P1 sits idle in the
  pool and keeps being offered work.
"""

import re
import threading
import time

from harness import Conn, Proxy, check, poll, test
import origin as origin_mod

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


class Recorder:
	"""A listener that is both an enterprise proxy (answers CONNECT with 200) and an HTTP
	origin; records (id, "connect" or "direct") for each request, by the id in its path."""

	def __init__(self, name, close_each=False):
		self.name = name
		self.close_each = close_each	# Connection: close after each response (no pooling)
		self.seen = []
		self.lock = threading.Lock()
		self.svc = origin_mod.TcpService(self._handle)
		self.port = self.svc.port

	def _handle(self, conn):
		conn.settimeout(10)
		buf = b""
		mode = "direct"
		for _ in range(10000):
			while b"\r\n\r\n" not in buf:
				try:
					d = conn.recv(65536)
				except OSError:
					d = b""
				if not d:
					conn.close()
					return
				buf += d
			head, buf = buf.split(b"\r\n\r\n", 1)
			line = head.split(b"\r\n")[0].decode("latin-1")
			if line.startswith("CONNECT "):
				mode = "connect"
				conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
				continue
			m = re.search(r"/(id-\d+-\d+)", line)
			with self.lock:
				self.seen.append((m.group(1) if m else line, mode))
			body = self.name.encode()
			conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s"
				     % (len(body), b"Connection: close\r\n" if self.close_each else b"", body))
			if self.close_each:
				conn.close()
				return
		conn.close()

	def where(self):
		with self.lock:
			return {i: mode for i, mode in self.seen}

	def close(self):
		self.svc.close()


def _get(c, url):
	c.send("GET %s HTTP/1.1\r\nHost: gen.test\r\n\r\n" % url)
	head = c.read_until(b"\r\n\r\n").decode("latin-1")
	n = int(re.search(r"(?i)content-length: *(\d+)", head).group(1))
	return int(head.split()[1]), c.read_exact(n).decode()


def _proxy(rule_route, proxy_port, target_port):
	p = Proxy(routes=[{"match": "gen.test:%d" % target_port, "route": rule_route}],
		  hosts=[{"name": "gen.test", "address": "127.0.0.1"}], default_route="deny",
		  name="generation")
	p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % proxy_port)
	return p


def _finish(p):
	rc = p.stop()
	rep = p.sanitizer_report()
	check(not rep, "sanitizer: %s\n%s" % (rep, p.stderr_tail(40)))
	check(rc in (0, None), "arcproxy exited %s on SIGTERM" % rc)
	p.cleanup()


@test(timeout=60)
def reload_mid_burst_route_and_upstream_agree(env):
	p1 = Recorder("P1", close_each=True)
	p2 = Recorder("P2", close_each=True)
	p = _proxy("proxy", p1.port, p2.port).start()
	errors = []
	stop = threading.Event()
	ids = []

	def client(k):
		try:
			c = Conn(p.port)
			for n in range(400):
				if stop.is_set() and n > 0:
					break
				rid = "id-%d-%d" % (k, n)
				status, body = _get(c, "http://gen.test:%d/%s" % (p2.port, rid))
				ids.append(rid)
				if status != 200:
					errors.append("%s: status %d" % (rid, status))
				time.sleep(0.01)
			c.close()
		except Exception as e:	# noqa: BLE001 -- reported below
			errors.append("client %d: %r" % (k, e))

	try:
		threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
		for t in threads:
			t.start()
		time.sleep(0.5)
		# Config B: the same destination goes direct, and proxy.url moves to P2.
		p.write_config(routes=[{"match": "gen.test:%d" % p2.port, "route": "direct"}])
		p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % p2.port)
		p.reload()
		time.sleep(1.0)
		stop.set()
		for t in threads:
			t.join(20)
		check(not errors, "requests failed: %s" % errors[:5])
		logged = {}
		poll(lambda: sum(1 for l in p.access_log_lines() if "/id-" in l) >= len(ids), timeout=3)
		for line in p.access_log_lines():
			f = line.split()
			m = re.search(r"/(id-\d+-\d+)", line)
			if m and len(f) > 4:
				logged[m.group(1)] = f[4]
		at1, at2 = p1.where(), p2.where()
		bad = []
		for rid in ids:
			route = logged.get(rid)
			if route == "proxy" and at1.get(rid) != "connect":
				bad.append("%s: logged proxy, reached %s" % (rid, "P2 " + at2.get(rid, "?")
									if rid in at2 else "nowhere"))
			elif route == "direct" and at2.get(rid) != "direct":
				bad.append("%s: logged direct, reached %s" % (rid, "P1" if rid in at1 else
									 "P2 " + at2.get(rid, "nowhere")))
			elif route not in ("proxy", "direct"):
				bad.append("%s: access-log route %r" % (rid, route))
		check(not bad, "%d of %d requests mixed two generations: %s"
		      % (len(bad), len(ids), bad[:5]))
		routes = set(logged[r] for r in ids)
		check(routes == {"proxy", "direct"}, "the burst did not span the reload: routes %s" % routes)
	finally:
		stop.set()
		_finish(p)
		p1.close()
		p2.close()


@test(timeout=60)
def pool_keyed_by_generation(env):
	p1 = Recorder("P1")
	p2 = Recorder("P2")
	origin_port = p2.port	# never reached: both configs go through a proxy
	p = _proxy("proxy", p1.port, origin_port).start()
	try:
		c = Conn(p.port)
		status, body = _get(c, "http://gen.test:%d/id-0-0" % origin_port)
		check(status == 200 and body == "P1", "before the reload: %d %r" % (status, body))
		c.close()
		p.write_agent_conf('proxy = { url = "http://127.0.0.1:%d"; };\n' % p2.port)
		n = [0]

		def reaches_p2():
			n[0] += 1
			c = Conn(p.port)
			try:
				status, body = _get(c, "http://gen.test:%d/id-1-%d" % (origin_port, n[0]))
			finally:
				c.close()
			return status == 200 and body == "P2"

		p.reload()
		# A pooled tunnel through P1 is offered to every request well within its
		# idle timeout: only a pool keyed by generation passes it over.
		check(poll(reaches_p2, timeout=4, interval=0.05),
		      "new connections still go through P1 4 s after the SIGHUP (the pool ignores the generation)")
	finally:
		_finish(p)
		p1.close()
		p2.close()
