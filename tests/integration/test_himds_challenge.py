"""himds: the token challenge, on a local identity with no cloud behind it.

Expectations:
- The first call gets 401 with `WWW-Authenticate: Basic realm=<dir>/<hex>.key`; that file holds
  64 hex digits, mode 0640, in a 0750 directory, the himds group's (when root: another user cannot
  read it).  The retry with `Authorization: Basic <key>` uses the key up (the file goes); a reused,
  wrong or expired key gets 401 with a new challenge.  Stale key files are removed at start,
  expired ones within seconds, all of them at SIGTERM.
(The challenge with a cloud behind it, and a flood of challenges: test_himds_cloud.py.)
"""

import json
import os
import pwd
import re
import subprocess

import fixtures
from fixtures import (MD, ROOT, TOKEN, api, curl_himds, curl_token, new_himds, put_local_identity,
		      read_key, realm_path, urllib_token)
from harness import check, poll, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	return fixtures.himds_env(local=True)


def teardown(env):
	return fixtures.stop_himds_env(env)


# --- the token challenge -------------------------------------------------------------

@test
def challenge_key_file(env):
	h = env.local
	status, hdrs, doc = api(h, TOKEN, MD)
	check(status == 401, "first token request: %d %r" % (status, doc))
	path = realm_path(hdrs.get("www-authenticate"))
	check(os.path.dirname(path) == h.token_dir() and re.fullmatch(r"[0-9a-f]{32}\.key", os.path.basename(path)),
	      "the realm names %s, not <run>/tokens/<hex>.key" % path)
	st = os.stat(path)
	check(st.st_mode & 0o777 == 0o640, "key file mode %o, expected 640" % (st.st_mode & 0o777))
	dst = os.stat(h.token_dir())
	check(dst.st_mode & 0o777 == 0o750, "token dir mode %o, expected 750" % (dst.st_mode & 0o777))
	check(re.fullmatch(r"[0-9a-f]{64}", read_key(path)), "key file content %r" % read_key(path))
	if ROOT:
		pw = pwd.getpwnam("himds")
		check(st.st_uid == pw.pw_uid and st.st_gid == pw.pw_gid and dst.st_gid == pw.pw_gid,
		      "key file %d:%d, dir group %d; expected himds's %d:%d" % (st.st_uid, st.st_gid, dst.st_gid,
										pw.pw_uid, pw.pw_gid))
		nobody = pwd.getpwnam("nobody")
		r = subprocess.run(["cat", path], capture_output=True, user=nobody.pw_uid, group=nobody.pw_gid,
				   extra_groups=[])
		check(r.returncode != 0 and not r.stdout, "user nobody could read the key file")
		r = subprocess.run(["cat", path], capture_output=True, user=nobody.pw_uid, group=nobody.pw_gid,
				   extra_groups=[pw.pw_gid])
		check(r.returncode == 0 and r.stdout.decode() == read_key(path),
		      "a member of group himds could not read the key file: %r" % r.stderr)


@test
def challenge_single_use_wrong_and_reused_keys(env):
	h = env.local
	# No cloud behind this identity: a good key gets past the challenge to a 502.
	status, _, body, key_path, key = curl_token(h)
	check(status == 502 and "error" in json.loads(body), "a good key: %d %s" % (status, body))
	check(not os.path.exists(key_path), "the used key file is still there")
	status, hdrs, _ = curl_himds(h, TOKEN, "-H", "Metadata: true", "-H", "Authorization: Basic %s" % key)
	check(status == 401, "a reused key: %d" % status)
	again = realm_path(hdrs.get("www-authenticate"))
	check(again != key_path and os.path.exists(again), "a reused key gets no new challenge")
	for auth in ("Basic " + "0" * 64, "Basic ", "Bearer " + read_key(again), read_key(again)):
		status, hdrs, doc = api(h, TOKEN, dict(MD, Authorization=auth))
		check(status == 401 and realm_path(hdrs.get("www-authenticate")),
		      "Authorization %r: %d %r" % (auth[:20], status, doc))
	check(os.path.exists(again), "a wrong key used up another key")
	status, doc, key_path = urllib_token(h)
	check(status == 502 and not os.path.exists(key_path), "urllib with a good key: %d %r" % (status, doc))


@test
def challenge_keys_expire_and_are_cleaned(env):
	h = new_himds(env, "himds-expiry", token_key_lifetime_seconds=1)
	os.makedirs(h.token_dir(), exist_ok=True)
	stale = os.path.join(h.token_dir(), "0123456789abcdef0123456789abcdef.key")
	with open(stale, "w") as f:
		f.write("stale")
	put_local_identity(env.sim, h.state_dir)
	h.start()
	check(not os.path.exists(stale), "a key file of an earlier run survived the start")
	status, hdrs, _ = api(h, TOKEN, MD)
	path = realm_path(hdrs.get("www-authenticate"))
	key = read_key(path)
	check(poll(lambda: not os.path.exists(path), timeout=4), "an expired key file was not removed")
	status, _, _ = api(h, TOKEN, dict(MD, Authorization="Basic " + key))
	check(status == 401, "an expired key: %d" % status)
	api(h, TOKEN, MD)
	check(os.listdir(h.token_dir()), "no key file")
	check(h.stop() == 0, "himds exited %s on SIGTERM" % h.proc.returncode)
	check(not os.listdir(h.token_dir()), "key files left at exit: %s" % os.listdir(h.token_dir()))
	check(ROOT or not os.path.exists(os.path.join(h.run_dir, "himds.pid")), "pid file left at exit")
