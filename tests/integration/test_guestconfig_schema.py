"""guestconfig's configuration document: the JSON Schema in the repo describes what the engine's parser accepts.

Expectations:
- agentlets/guestconfig/config-document.schema.json is a valid draft 2020-12 schema.
- Every sample document (samples/guestconfig/*.json) validates against it; the engine's unit suite
  (guestconfig_engine_test, test "samples") parses the same files with every resource valid.
- Every bad sample (samples/guestconfig/invalid/*.json) fails validation; the unit suite finds the
  parser refusing each of them, or failing one of its resources.
- Documents made here to probe single rules (a symlink-free absolute path, a mode, mutually
  exclusive content and sha256, an absent file with a mode, a relative argv[0], a condition with
  two operators) are refused by the schema, as the parser refuses them.
Needs Python's jsonschema (Debian python3-jsonschema).
"""

import json

import harness
from harness import Skip, check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True

DIR = harness.REPO / "samples" / "guestconfig"
SCHEMA = harness.REPO / "agentlets" / "guestconfig" / "config-document.schema.json"


def setup():
	try:
		import jsonschema
	except ImportError:
		raise Skip("python's jsonschema is not installed (Debian: python3-jsonschema)")
	schema = json.loads(SCHEMA.read_text())
	jsonschema.Draft202012Validator.check_schema(schema)
	return {"v": jsonschema.Draft202012Validator(schema)}


def teardown(env):
	pass


def errors(env, doc):
	return [e.message for e in env["v"].iter_errors(doc)]


@test
def samples_valid(env):
	files = sorted(DIR.glob("*.json"))
	check(len(files) >= 3, "samples: %d" % len(files))
	for f in files:
		e = errors(env, json.loads(f.read_text()))
		check(not e, "%s: %s" % (f.name, e[:3]))


@test
def bad_samples_refused(env):
	files = sorted((DIR / "invalid").glob("*.json"))
	check(len(files) >= 3, "bad samples: %d" % len(files))
	for f in files:
		check(errors(env, json.loads(f.read_text())), "%s: accepted by the schema" % f.name)


def doc(*resources):
	return {"schemaVersion": 1, "name": "probe", "resources": list(resources)}


@test
def single_rules(env):
	good = [
		{"id": "a", "type": "file", "properties": {"path": "/etc/x.conf", "mode": "0600", "owner": 0}},
		{"id": "b", "audit": {"not": {"anyOf": [{"type": "package", "properties": {"name": "telnetd"}}]}}},
		{"id": "c", "type": "sysctl", "properties": {"name": "net/ipv4/conf/eth0.1/forwarding", "value": 0}},
		{"id": "d", "type": "command_output", "properties": {"argv": ["/bin/echo", "x"], "regex": "x"}},
	]
	for r in good:
		e = errors(env, doc(r))
		check(not e, "refused %s: %s" % (r, e[:2]))
	# the same list as guestconfig_engine_test.c's test_schema_probes
	bad = [
		{"id": "a", "type": "file", "properties": {"path": "/etc/../shadow"}},
		{"id": "a", "type": "file", "properties": {"path": "/etc/x", "mode": "644x"}},
		{"id": "a", "type": "file", "properties": {"path": "/etc/x", "content": "", "sha256": "0" * 64}},
		{"id": "a", "type": "file", "properties": {"path": "/etc/x", "ensure": "absent", "mode": "0600"}},
		{"id": "a", "type": "command_output", "properties": {"argv": ["id"], "regex": "x"}},
		{"id": "a", "audit": {"allOf": [], "anyOf": []}},
		{"id": "a", "type": "file", "properties": {"path": "/etc/x"}, "extra": 1},
		{"id": "a b", "type": "file", "properties": {"path": "/etc/x"}},
		{"id": "a", "properties": {"path": "/etc/x"}},
		{"id": "a", "type": "sysctl", "properties": {"name": "net/../../../etc/shadow", "value": "x"}},
		{"id": "a", "type": "user", "properties": {"name": "-o"}},
	]
	for r in bad:
		check(errors(env, doc(r)), "accepted: %s" % r)
	check(errors(env, {"schemaVersion": 2, "name": "x", "resources": []}), "schemaVersion 2 accepted")
