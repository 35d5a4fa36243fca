"""himds: the metadata API on a local identity, and the heartbeat through arcproxy without a cloud.

Expectations:
- /metadata/instance gives Azure's compute document from machine.json (tags as "k:v;k2:v2",
  osType Linux, network {}), /metadata/endpoints the cloud URL, to curl and urllib alike.
- Every endpoint needs `Metadata: true`, and all but /agentstatus api-version (else 400 with a
  JSON error); any request carrying X-Forwarded-For (or Via) gets 400; unknown paths 404; POST 405.
  A Host other than localhost, 127.0.0.1 or [::1] (with or without a port) gets 400: a browser
  page on a DNS name rebound to 127.0.0.1 reads nothing.
  Through arcproxy, metadata is refused by its SSRF guard (403); an arcproxy misconfigured to let
  it through adds Via, and himds refuses that (400).
- A client that streams requests and reads no answer cannot make himds hold them: it takes less
  than 24 MiB of the 64 MiB offered (the sockets' buffers), its memory grows by less than 16 MiB
  (not measured under AddressSanitizer), and it still answers others.
- The heartbeat goes through arcproxy (its access log shows the CONNECT to the cloud); a refusal
  shows in himds.json as Disconnected with the reason.
"""

import json
import os
import re
import socket
import time
import urllib.request

import fixtures
import harness
from fixtures import (CLOUD_URL, INSTANCE, LOCAL_RESOURCE, MD, MD_ENDPOINTS, TOKEN, ArcProxy, api,
		      curl_himds, parse_curl_i)
from harness import check, curl, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.himds_env(local=True)


def teardown(env):
	return fixtures.stop_himds_env(env)


# --- the metadata API ---------------------------------------------------------------

@test
def metadata_instance_document(env):
	h = env.local
	status, hdrs, doc = api(h, INSTANCE, MD)
	check(status == 200 and hdrs.get("content-type", "").startswith("application/json"),
	      "GET /metadata/instance: %d %r" % (status, hdrs))
	c = doc["compute"]
	for k in ("resourceId", "subscriptionId", "resourceGroupName", "location", "name", "vmId"):
		check(c.get(k) == LOCAL_RESOURCE[k], "compute.%s is %r, expected %r" % (k, c.get(k), LOCAL_RESOURCE[k]))
	check(c["osType"] == "Linux", "osType %r" % c["osType"])
	check(c["tags"] == "env:prod;team:ops", "tags %r, expected 'env:prod;team:ops'" % c["tags"])
	check(doc["network"] == {}, "network %r" % doc["network"])
	# curl and urllib see the same.
	status, _, body = curl_himds(h, INSTANCE, "-H", "Metadata: true")
	check(status == 200 and json.loads(body) == doc, "curl: %d %s" % (status, body[:200]))
	opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
	with opener.open(urllib.request.Request(h.url(INSTANCE), headers=MD), timeout=10) as r:
		check(json.loads(r.read()) == doc, "urllib sees another document")
	status, _, doc = api(h, MD_ENDPOINTS, MD)
	check(status == 200 and doc.get("resourceManager") == CLOUD_URL, "endpoints: %d %r" % (status, doc))


@test
def metadata_header_and_api_version_required(env):
	h = env.local
	for path in (INSTANCE, MD_ENDPOINTS, TOKEN):
		for headers in ({}, {"Metadata": "false"}):
			status, _, doc = api(h, path, headers)
			check(status == 400 and doc.get("error") == "invalid_request" and
			      "metadata" in doc.get("error_description", "").lower(),
			      "%s with %r: %d %r" % (path, headers, status, doc))
	for path in ("/metadata/instance", "/metadata/instance?api-version="):
		status, _, doc = api(h, path, MD)
		check(status == 400 and "api-version" in doc.get("error_description", ""),
		      "%s: %d %r" % (path, status, doc))
	status, _, doc = api(h, "/agentstatus")
	check(status == 400 and "metadata" in doc.get("error_description", "").lower(),
	      "/agentstatus without the Metadata header: %d %r" % (status, doc))
	status, _, doc = api(h, "/agentstatus", MD)
	check(status == 200 and doc.get("resourceId") == LOCAL_RESOURCE["resourceId"],
	      "/agentstatus with Metadata: true: %d %r" % (status, doc))
	status, _, doc = api(h, "/metadata/nothing?api-version=1", MD)
	check(status == 404 and doc.get("error"), "unknown path: %d %r" % (status, doc))
	status, hdrs, _ = api(h, INSTANCE, MD, method="POST")
	check(status == 405 and hdrs.get("allow") == "GET", "POST: %d %r" % (status, hdrs))


@test
def a_client_that_reads_nothing_cannot_fill_himds(env):
	h = env.local

	def rss_kib():
		with open("/proc/%d/status" % h.proc.pid) as f:
			return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

	before = rss_kib()
	req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nMetadata: true\r\n\r\n" % INSTANCE).encode() * 200
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	s.connect(("127.0.0.1", h.port))
	s.setblocking(False)
	sent, peak, deadline = 0, before, time.monotonic() + 2
	try:
		while time.monotonic() < deadline and sent < (64 << 20):
			try:
				sent += s.send(req)
			except BlockingIOError:
				time.sleep(0.01)
			peak = max(peak, rss_kib())
	finally:
		s.close()
	# Once himds stops reading, only the sockets buffers take more (a few MiB).
	check(sent < 24 << 20, "himds read on: one client that reads no answer streamed %d bytes of "
	      "requests into it in 2 s" % sent)
	with open("/proc/%d/maps" % h.proc.pid) as f:
		sanitized = "libasan" in f.read()	# its quarantine keeps freed memory: RSS says nothing
	check(sanitized or peak - before < 16 << 10, "himds grew by %d KiB while one client streamed %d "
	      "bytes of requests and read no answer" % (peak - before, sent))
	status, _, doc = api(h, INSTANCE, MD)
	check(status == 200, "after the streaming client: %d %r" % (status, doc))


@test
def only_local_host_names(env):
	h = env.local
	for host in ("localhost", "LOCALHOST:%d" % h.port, "127.0.0.1", "127.0.0.1:%d" % h.port, "[::1]",
		     "[::1]:%d" % h.port):
		status, _, doc = api(h, "/agentstatus", dict(MD, Host=host))
		check(status == 200, "Host %s: %d %r" % (host, status, doc))
	keys = lambda: sorted(os.listdir(h.token_dir())) if os.path.isdir(h.token_dir()) else []
	before = keys()
	for host in ("evil.example:%d" % h.port, "evil.example", "127.0.0.2", "localhost.evil.example",
		     "localhost:", "localhost:80x", "[::1]x", "0x7f000001", ""):
		for path in ("/agentstatus", INSTANCE, TOKEN):
			status, _, doc = api(h, path, dict(MD, Host=host))
			check(status == 400 and "Host" in doc.get("error_description", ""),
			      "%s with Host %r: %d %r" % (path, host, status, doc))
	# Two Host fields (RFC 9112 3.2), the first a good one: 400 too.
	with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
		s.sendall(b"GET /agentstatus HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n"
			  b"Metadata: true\r\nConnection: close\r\n\r\n")
		out = b""
		while True:
			d = s.recv(65536)
			if not d:
				break
			out += d
	check(out.startswith(b"HTTP/1.1 400 ") and b"Host" in out, "two Host fields: %r" % out[:300])
	check(keys() == before, "a request for another host got a key file")
	# What a browser does after DNS rebinding: curl with the rebound name resolved to 127.0.0.1.
	p = curl("--noproxy", "*", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Metadata: true",
		 "--resolve", "rebound.example:%d:127.0.0.1" % h.port,
		 "http://rebound.example:%d/agentstatus" % h.port)
	check(p.stdout.decode() == "400", "a rebound name: HTTP %s" % p.stdout.decode())


@test
def forwarded_requests_refused(env):
	h = env.local
	before = os.listdir(h.token_dir())
	for path in (INSTANCE, TOKEN, "/agentstatus"):
		status, _, doc = api(h, path, dict(MD, **{"X-Forwarded-For": "10.0.0.7"}))
		check(status == 400 and "X-Forwarded-For" in doc.get("error_description", ""),
		      "%s with X-Forwarded-For: %d %r" % (path, status, doc))
	check(os.listdir(h.token_dir()) == before, "a forwarded token request got a key file")
	status, _, _ = curl_himds(h, INSTANCE, "-H", "Metadata: true", "-H", "X-Forwarded-For: 127.0.0.1")
	check(status == 400, "curl with X-Forwarded-For: %d" % status)


@test
def metadata_through_arcproxy_refused(env):
	h = env.local
	target = "http://127.0.0.1:%d%s" % (h.port, INSTANCE)
	p = curl("-i", "-x", "http://127.0.0.1:%d" % env.arcproxy.port, "-H", "Metadata: true", target)
	status, hdrs, _ = parse_curl_i(p.stdout.decode("utf-8", "replace"))
	check(status == 403 and "destination_ip_prohibited" in hdrs.get("proxy-status", ""),
	      "metadata through arcproxy: %d %r" % (status, hdrs))
	# An arcproxy told to let himds through still cannot: it adds Via, and himds refuses.
	loose = ArcProxy(routes=[harness.direct("127.0.0.1:%d" % h.port)], name="himds-loose")
	env.proxies.append(loose)
	loose.start()
	p = curl("-i", "-x", "http://127.0.0.1:%d" % loose.port, "-H", "Metadata: true", target)
	status, _, body = parse_curl_i(p.stdout.decode("utf-8", "replace"))
	check(status == 400 and "Via" in body, "metadata through a loose arcproxy: %d %s" % (status, body))
	check(h.log_has(r"refused a request with Via"), "himds did not log the refusal")


# --- heartbeat without a cloud ------------------------------------------------------

@test
def heartbeat_goes_through_arcproxy(env):
	h = env.local
	lines = poll(lambda: [l for l in env.arcproxy.access_log_lines() if "management.cloudsim.test:443" in l],
		     timeout=5)
	check(lines and " CONNECT " in lines[0] and " 403 " in lines[0],
	      "no refused CONNECT to the cloud in arcproxy's access log:\n%s"
	      % "\n".join(env.arcproxy.access_log_lines()[-5:]))
	st = poll(lambda: h.status_file().get("lastError") and h.status_file(), timeout=5)
	check(st and st["status"] == "Disconnected" and "403" in st["lastError"] and st["lastHeartbeat"] is None,
	      "himds.json: %r" % st)
	status, _, doc = api(h, "/agentstatus", MD)
	check(doc["status"] == "Disconnected" and doc["lastHeartbeat"] is None, "/agentstatus: %r" % doc)
	# The retry follows the interval (1 s here): more than one CONNECT by now.
	check(poll(lambda: len([l for l in env.arcproxy.access_log_lines()
				if "management.cloudsim.test:443" in l]) >= 2, timeout=5),
	      "heartbeats are not retried")
