"""SIGTERM with long-lived tunnels: arcproxy stops within a bound a user can count on.

Expectations:
- Requests in flight get limits.drain_timeout_ms to finish; tunnels (CONNECT, WebSocket) get
  limits.drain_tunnel_grace_ms (default 2000), then are closed, so that a tunnel held open for
  hours (arcnotify's WebSocket) does not hold the whole drain.
- A tunnel still works during its grace; when the grace is over its client sees EOF, and its
  access-log line says error "shutdown".
- A download in flight when the tunnels are cut goes on to its last byte (verified), and the
  process exits 0 as soon as it is done, well before drain_timeout_ms.
- With only a WebSocket open and the default limits, the process exits 0 within the grace
  plus a margin, not the 10 s drain.
"""

import hashlib
import signal
import time

import origin as origin_mod
from harness import Conn, Env, Proxy, check, origin, poll, std_routes, stop_env, test

GRACE_MS = 1000
DRAIN_MS = 8000


def setup():
	return Env(None)


def teardown(env):
	for p in env.extra:
		p.stop()
	return []


def _url(o, path):
	return "http://127.0.0.1:%d%s" % (o.http_port, path)


def _line(p, word, timeout=3.0):
	"""The access-log line whose method is word, once written."""
	found = []

	def seen():
		found[:] = [ln for ln in p.access_log_lines() if ln.split()[2:3] == [word]]
		return bool(found)
	poll(seen, timeout=timeout, interval=0.1)
	return found[0].split() if found else None


@test(timeout=40)
def tunnel_cut_after_grace_download_completes(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="shutdown",
		  limits={"drain_timeout_ms": DRAIN_MS, "drain_tunnel_grace_ms": GRACE_MS,
			  "buffer_bytes": 65536}).start()
	env.extra.append(p)
	n = 24 << 20
	with Conn(p.port, timeout=10) as t, Conn(p.port, timeout=10) as d:
		check(t.connect_tunnel("127.0.0.1:%d" % o.echo_port).status == 200, "CONNECT failed")
		t.send(b"one\n")
		check(t.read_exact(4) == b"one\n", "no echo before SIGTERM")
		d.request("GET", _url(o, "/bytes/%d" % n))
		status, _, headers, _ = d.read_head()
		check(status == 200, "download: status %d" % status)
		h = hashlib.sha256()
		got = len(d.buf)
		h.update(d.buf)
		d.buf = b""
		t0 = time.monotonic()
		p.signal(signal.SIGTERM)
		t.send(b"two\n")
		check(t.read_exact(4) == b"two\n", "the tunnel was cut at once, not after its grace")
		# The download: 64 KiB at a time, slowly enough to outlast the grace.
		cut = None
		while got < n:
			part = d.sock.recv(min(65536, n - got))
			check(part, "download cut at %d of %d bytes, %.1fs after SIGTERM"
			      % (got, n, time.monotonic() - t0))
			h.update(part)
			got += len(part)
			time.sleep(0.004)
			if cut is None and t.at_eof(0.001):
				cut = time.monotonic() - t0
		done = time.monotonic() - t0
		check(h.hexdigest() == dict((k.lower(), v) for k, v in headers)["x-sha256"],
		      "downloaded bytes differ from the origin's")
		d.close()	# as a client does on the Connection: close of a draining proxy
		if cut is None:
			check(t.at_eof(2), "tunnel still open %.1fs after SIGTERM (grace %d ms)"
			      % (time.monotonic() - t0, GRACE_MS))
			cut = time.monotonic() - t0
		check(GRACE_MS / 1000 - 0.2 <= cut <= GRACE_MS / 1000 + 1.5,
		      "tunnel closed %.2fs after SIGTERM; grace %d ms" % (cut, GRACE_MS))
		check(done > cut, "the download ended (%.2fs) before the tunnels were cut (%.2fs): "
		      "nothing was in flight" % (done, cut))
		try:
			rc = p.proc.wait(3)
		except Exception:
			raise AssertionError("still running %.1fs after SIGTERM, %.1fs after the download "
					     "ended" % (time.monotonic() - t0, time.monotonic() - t0 - done))
		check(rc == 0, "exit status %s after SIGTERM" % rc)
		check(time.monotonic() - t0 < DRAIN_MS / 1000, "waited for the whole drain")
	tl = _line(p, "CONNECT")
	check(tl is not None and tl[-1] == "shutdown",
	      "tunnel's log line does not say shutdown: %r" % (tl,))
	gl = _line(p, "GET")
	check(gl is not None and gl[5] == "200" and gl[-1] == "-" and int(gl[7]) >= n,
	      "download's log line: %r" % (gl,))


@test(timeout=30)
def websocket_does_not_hold_the_drain(env):
	o = origin()
	p = Proxy(routes=std_routes(o), name="shutdown-ws", limits={"drain_timeout_ms": 10000}).start()
	env.extra.append(p)
	key = "dGhlIHNhbXBsZSBub25jZQ=="
	with Conn(p.port, timeout=10) as c:
		c.request("GET", _url(o, "/ws"), [("Upgrade", "websocket"), ("Connection", "Upgrade"),
						  ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])
		check(c.read_head()[0] == 101, "no 101 Switching Protocols")
		c.send(origin_mod.ws_frame(1, b"hello", mask=True))
		check(origin_mod.ws_read_frame(c.read_exact) == (True, 1, b"hello"), "frame not echoed")
		t0 = time.monotonic()
		p.signal(signal.SIGTERM)
		try:
			rc = p.proc.wait(4.5)
		except Exception:
			raise AssertionError("a WebSocket kept arcproxy running %.1fs after SIGTERM "
					     "(grace 2 s by default)" % (time.monotonic() - t0))
		dt = time.monotonic() - t0
		check(rc == 0, "exit status %s" % rc)
		check(dt >= 1.5, "exited %.2fs after SIGTERM: the WebSocket had no grace" % dt)
		check(c.at_eof(2), "WebSocket still open after the process exited")
	wl = _line(p, "GET")
	check(wl is not None and wl[5] == "101" and wl[-1] == "shutdown",
	      "WebSocket's log line: %r" % (wl,))
