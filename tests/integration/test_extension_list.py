"""test_extension_list.py -- azcmagent extension list shows a handler's status message without its control characters.

Expectations (extmgr polling every second):
- A handler's status message is the handler's text (and, through it, the cloud's settings). When it
  holds escape sequences (ESC ] to retitle the terminal, CSI to clear it, BEL, a C1 CSI in UTF-8)
  and line breaks, `azcmagent extension list` prints the row on one line with each control character
  as '?' (line breaks and tabs as spaces) and the rest of the text as it was; `-j` keeps the message
  exactly as reported (JSON escapes it).
"""

import json
import os

import fx_extmgr as fx
from harness import check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

TYPE = "Loud"
MESSAGE = "done\u001b]0;owned\u0007 \u001b[2J\u009b1m\nsecond line\tend"

MANIFEST = """[{"name": "Loud", "version": 1.0, "handlerManifest": {
  "installCommand": "handler.sh install", "enableCommand": "handler.sh enable",
  "updateCommand": "handler.sh update", "disableCommand": "handler.sh disable",
  "uninstallCommand": "handler.sh uninstall", "reportHeartbeat": false,
  "continueOnUpdateFailure": false, "updateMode": "UpdateWithInstall"}}]
"""

HANDLER = """#!/bin/sh
# Loud: enable reports a status message full of escape sequences.
. "$(dirname "$0")/common.sh"
[ "$1" = enable ] || exit 0
cat > "$status_dir/$seq.status" <<'EOF'
[{"version": 1.0, "timestampUTC": "2026-01-01T00:00:00Z", "status": {"name": "Loud",
  "operation": "Enable", "status": "success", "code": 0,
  "formattedMessage": {"lang": "en-US", "message": %s}}}]
EOF
""" % json.dumps(MESSAGE)


def setup():
	return fx.extmgr_env()


def teardown(env):
	return fx.stop_extmgr_env(env)


@test(timeout=90)
def control_characters_of_a_message_stay_off_the_terminal(env):
	d = fx.handler_dir(env, "loud", {"HandlerManifest.json": (MANIFEST, 0o644),
					 "handler.sh": (HANDLER, 0o755)})
	with open(os.path.join(fx.SAMPLES, "common.sh")) as f:
		common = f.read()
	with open(os.path.join(d, "common.sh"), "w") as f:
		f.write(common)
	fx.publish(env, "loud", "1.0", handler_dir=d, type_name=TYPE)
	v = fx.deploy(env, "loud", "loud", type_name=TYPE)
	v = fx.wait_status(env, "loud", v["sequenceNumber"], operation="Enable")
	check(v["status"].get("message") == MESSAGE, "the cloud got %r" % v["status"])
	r = fx.azcm(env, "extension", "list", "-j")
	rows = {e["name"]: e for e in json.loads(r.stdout)}
	check(rows["loud"]["lastStatus"]["message"] == MESSAGE, "-j: %r" % rows.get("loud"))
	r = fx.azcm(env, "extension", "list")
	check(r.returncode == 0, "extension list: %d %s" % (r.returncode, r.stderr))
	bad = [c for c in r.stdout if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f]
	check(not bad, "control characters reach the terminal: %r" % r.stdout)
	rows = [ln for ln in r.stdout.splitlines() if ln.startswith("loud ")]
	check(len(rows) == 1 and rows[0].endswith(
	      "Enable success: done?]0;owned? ?[2J?1m second line end"), "the row: %r" % r.stdout)
