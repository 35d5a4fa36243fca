"""CONNECT tunnels.

Expectations:
- curl, Python urllib (HTTPS_PROXY) and openssl s_client -proxy reach the TLS origin
  (origin.test, mapped by the hosts table) through CONNECT, certificate verification on.
- A 64 MiB body through a tunnel arrives with the right SHA-256.
- curl -p tunnels plain HTTP through CONNECT.
- The CONNECT answer is a 2xx without Content-Length or Transfer-Encoding, and bytes flow at once;
  bytes sent in the same write as the CONNECT head are not lost.
- Half-close passes across both ways: the client's shutdown(SHUT_WR) reaches the echo server
  (which answers BYE) while the client still reads; the server's half-close reaches the client
  as EOF while the client can still send.
- Plain tunnels that moved bytes and went idle hold no splice pipe each (at most the worker's
  small pool while some tunnel is open), and none once they all closed.
- The proxy holds no more fds at the end than at the start.
"""

import os
import socket
import subprocess
import sys
import threading
import time

from harness import (Conn, check, curl, direct, origin, payload, poll, sha, sha_of,
		     standard_env, stop_env, test)
import origin as origin_mod

BIG = 64 << 20


def setup():
	o = origin()
	return standard_env(name="tunnel",
			    hosts=[{"name": "origin.test", "address": "127.0.0.1"}],
			    routes=[direct("origin.test:%d" % o.tls_port)])


def teardown(env):
	return stop_env(env)


def _https(env, path):
	return "https://origin.test:%d%s" % (env.origin.tls_port, path)


def _proxy_url(env):
	return "http://127.0.0.1:%d" % env.proxy.port


@test
def curl_https_through_connect(env):
	p = curl("--cacert", env.origin.ca, "-x", _proxy_url(env), "-w", "%{http_connect} %{http_code}",
		 "-o", os.devnull, _https(env, "/bytes/100000"), timeout=20)
	check(p.returncode == 0, "curl exit %d: %s" % (p.returncode, p.stderr.decode().strip()))
	check(p.stdout.decode() == "200 200", "CONNECT / GET codes: %r" % p.stdout)
	body = curl("--cacert", env.origin.ca, "-x", _proxy_url(env), _https(env, "/chunked/300000"),
		    timeout=20, check_rc=True).stdout
	check(body == payload(300000), "chunked body through the tunnel differs (%d bytes)" % len(body))


@test(timeout=120)
def curl_https_64mib_sha(env):
	p = curl("--cacert", env.origin.ca, "-x", _proxy_url(env), _https(env, "/bytes/%d" % BIG),
		 timeout=110, check_rc=True)
	check(len(p.stdout) == BIG, "got %d of %d bytes" % (len(p.stdout), BIG))
	check(sha_of(p.stdout) == sha(BIG), "SHA-256 of the 64 MiB body differs")


_URLLIB = r"""
import hashlib, ssl, sys, urllib.request

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(sys.argv[1], context=ctx, timeout=20) as r:
	body = r.read()
	print(r.status, len(body), hashlib.sha256(body).hexdigest())
"""


@test
def urllib_https_proxy_env(env):
	n = 1 << 20
	e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
	     "HTTPS_PROXY": _proxy_url(env), "https_proxy": _proxy_url(env)}
	p = subprocess.run([sys.executable, "-c", _URLLIB, _https(env, "/bytes/%d" % n), env.origin.ca],
			   env=e, capture_output=True, text=True, timeout=30)
	check(p.returncode == 0, "urllib through HTTPS_PROXY failed: %s" % p.stderr.strip()[-500:])
	check(p.stdout.split() == ["200", str(n), sha(n)], "urllib got %r" % p.stdout)


@test
def openssl_s_client_proxy(env):
	n = 200000
	req = "GET /bytes/%d HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n" % n
	p = subprocess.run(["openssl", "s_client", "-proxy", "127.0.0.1:%d" % env.proxy.port,
			    "-connect", "origin.test:%d" % env.origin.tls_port, "-servername", "origin.test",
			    "-CAfile", env.origin.ca, "-verify_return_error", "-verify_hostname", "origin.test",
			    "-quiet"], input=req.encode(), capture_output=True, timeout=30)
	head, _, body = p.stdout.partition(b"\r\n\r\n")
	check(head.startswith(b"HTTP/1.1 200"), "s_client got %r; stderr: %s"
	      % (head[:100], p.stderr.decode(errors="replace").strip()[-400:]))
	check(body == payload(n), "s_client body differs (%d bytes)" % len(body))


@test
def curl_p_plain_http(env):
	url = "http://127.0.0.1:%d/bytes/50000" % env.origin.http_port
	p = curl("-p", "-x", _proxy_url(env), "-w", "%{http_connect}", "-o", "-", url,
		 timeout=20, check_rc=True)
	check(p.stdout[-3:] == b"200", "CONNECT code %r" % p.stdout[-3:])
	check(p.stdout[:-3] == payload(50000), "body through CONNECT to plain HTTP differs")


@test
def connect_response_and_echo(env):
	with Conn(env.proxy.port) as c:
		r = c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port)
		check(r.status == 200, "CONNECT status %d" % r.status)
		check(r.header("content-length") is None and r.header("transfer-encoding") is None,
		      "2xx CONNECT answer carries a body framing header: %r" % r.headers)
		c.send(b"ping\n")
		check(c.read_exact(5) == b"ping\n", "no echo through the tunnel")


@test
def early_data_after_connect(env):
	"""Bytes sent in the same write as the CONNECT head reach the destination."""
	with Conn(env.proxy.port) as c:
		c.send("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\nearly bytes\n"
		       % (env.origin.echo_port, env.origin.echo_port))
		r = c.read_response("CONNECT")
		check(r.status == 200, "CONNECT status %d" % r.status)
		check(c.read_exact(12) == b"early bytes\n", "bytes sent with the CONNECT head were lost")


@test
def client_half_close(env):
	"""The client sends, shuts down its write side, and still gets the echo and BYE."""
	data = payload(200000)
	with Conn(env.proxy.port, timeout=10) as c:
		r = c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port)
		check(r.status == 200, "CONNECT status %d" % r.status)
		errors = []

		def sender():
			try:
				c.send(data)
				c.shutdown_wr()
			except OSError as e:
				errors.append(e)
		t = threading.Thread(target=sender, daemon=True)
		t.start()
		got = c.read_to_eof(limit=len(data) + 100)
		t.join(5)
		check(not errors, "sending into the tunnel failed: %r" % errors)
		check(got[-4:] == b"BYE\n", "no BYE after the client's EOF (got %d bytes, tail %r):"
		      " the half-close did not reach the server" % (len(got), got[-8:]))
		check(got[:-4] == data, "echo differs (%d of %d bytes)" % (len(got) - 4, len(data)))


@test
def server_half_close(env):
	"""The server sends and shuts down its write side; the client sees EOF and can still send."""
	token = os.urandom(8).hex().encode()
	out = token + payload(262144)
	with Conn(env.proxy.port, timeout=10) as c:
		r = c.connect_tunnel("127.0.0.1:%d" % env.origin.halfclose_port)
		check(r.status == 200, "CONNECT status %d" % r.status)
		got = c.read_exact(origin_mod.HALF_N)
		check(got == payload(origin_mod.HALF_N), "server's bytes differ")
		c.settimeout(5)
		try:
			more = c.sock.recv(1)
		except socket.timeout:
			raise AssertionError("the server's half-close did not reach the client as EOF")
		check(more == b"", "extra bytes after the server's data")
		try:
			c.send(out)
			c.shutdown_wr()
		except OSError as e:
			raise AssertionError("client could not send after the server's half-close: %r" % e)
		res = poll(lambda: env.origin.halfclose_results.get(token[:16]), timeout=5)
		check(res is not None, "the server never saw the client's data and EOF")
		check(res == (len(out), sha_of(out)), "server received %d bytes, wanted %d" % (res[0], len(out)))
		check(c.at_eof(5), "tunnel not closed after both sides finished")


@test
def parallel_tunnels(env):
	"""Several tunnels at once each get their own bytes back."""
	conns = []
	try:
		for i in range(8):
			c = Conn(env.proxy.port, timeout=10)
			conns.append(c)
			r = c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port)
			check(r.status == 200, "CONNECT %d status %d" % (i, r.status))
		for i, c in enumerate(conns):
			c.send(b"tunnel-%d\n" % i)
		for i, c in enumerate(conns):
			want = b"tunnel-%d\n" % i
			check(c.read_exact(len(want)) == want, "tunnel %d got another tunnel's bytes" % i)
	finally:
		for c in conns:
			c.close()


@test
def idle_tunnels_hold_no_pipe(env):
	"""16 tunnels each echo 256 KiB (spliced), then sit idle: the pipes went back."""
	def pipes():
		return len([f for f in env.proxy.fds() if f.startswith("pipe:")])

	conns = []
	data = payload(262144)
	before = pipes()	# the process's own (its loop's wake-ups)
	try:
		for i in range(16):
			c = Conn(env.proxy.port, timeout=10)
			conns.append(c)
			r = c.connect_tunnel("127.0.0.1:%d" % env.origin.echo_port)
			check(r.status == 200, "CONNECT %d status %d" % (i, r.status))
			t = threading.Thread(target=c.send, args=(data,))
			t.start()
			got = c.read_exact(len(data))
			t.join(10)
			check(got == data, "tunnel %d: echo differs" % i)
		# A pipe per idle tunnel would be 32 fds; the pool keeps at most 8 pairs.
		n = pipes() - before
		check(n <= 16, "%d more pipe fds with 16 idle tunnels" % n)
	finally:
		for c in conns:
			c.close()
	gone = poll(lambda: pipes() <= before, timeout=5, interval=0.1)
	check(gone, "pipes still open once every tunnel closed: %r" % env.proxy.fds())


@test
def no_fd_leak(env):
	time.sleep(0.2)
	env.assert_no_fd_leak()
