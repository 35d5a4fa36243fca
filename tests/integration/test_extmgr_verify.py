"""extmgr refuses bad packages before anything of them is opened or run.

Expectations: each of these installs nothing, reports the check that failed to the cloud (Verify,
code 1004; Install, code 1005 for what unpacking refuses), and writes nothing outside the
extension directory (which never appears): the zip changed by one byte (against the catalog's
SHA-256, and with the catalog made to match it: the signature names the other digest), a package
signed by another publisher, a missing signature, a signature of the old format (the zip's bytes
alone, which do not name the type and version), and zips holding ../x, an absolute path, or an
escaping symlink.
"""

import os
import shutil
import stat

import fx_extmgr as fx
from harness import check, test

# run.py may run this module beside others: its own ports, dirs and names only.
PARALLEL = True


def setup():
	env = fx.extmgr_env()
	fx.publish(env, "hello", "1.0")	# the publisher's certificate, for sign_as
	return env


def teardown(env):
	return fx.stop_extmgr_env(env)


def refused(env, ext, type_name, operation, code, needle):
	"""Deploys ext (a package published as Cloudsim.Samples.<type_name>-1.0) and checks that it is
	refused with needle in the report, with nothing installed or left."""
	x = env.extmgr
	outside = [os.path.join(x.own(), "x"), "/tmp/extmgr-abs-%s" % type_name, x.own("extensions", "x")]
	v = fx.deploy(env, ext, type_name=type_name)
	v = fx.wait_status(env, ext, v["sequenceNumber"], status=("error",), operation=operation)
	s = v["status"]
	check(s["code"] == code and needle in s["message"], "%s's report: %r (want %d, %r)" % (ext, s, code, needle))
	check(fx.ext_dirs(x) == [], "something was unpacked: %r" % fx.ext_dirs(x))
	check(not [n for n in os.listdir(x.own("extensions")) if n.startswith(".")],
	      "temp dirs left: %r" % os.listdir(x.own("extensions")))
	check(os.listdir(x.own("downloads")) == [], "downloads left: %r" % os.listdir(x.own("downloads")))
	check(not any(os.path.lexists(p) for p in outside), "written outside: %r" %
	      [p for p in outside if os.path.lexists(p)])
	check(not x.calls(type_name), "a handler ran: %r" % x.calls(type_name))
	fx.undeploy(env, ext)
	fx.wait_gone(env, ext)


def copy_package(env, type_name):
	"""Cloudsim.Samples.Hello-1.0's files as Cloudsim.Samples.<type_name>-1.0 (zip and signature)."""
	src = fx.package_path(env, "Cloudsim.Samples.Hello-1.0.zip")
	dst = fx.package_path(env, "Cloudsim.Samples.%s-1.0.zip" % type_name)
	shutil.copy(src, dst)
	shutil.copy(src + ".p7s", dst + ".p7s")
	return dst


@test(timeout=60)
def one_byte_changed_against_the_catalog(env):
	z = copy_package(env, "Flip")
	fx.catalog(env, fx.PUBLISHER, "Flip", "1.0", z)
	with open(z, "r+b") as f:
		f.seek(os.path.getsize(z) // 2)
		b = f.read(1)
		f.seek(-1, 1)
		f.write(bytes([b[0] ^ 1]))
	refused(env, "flip", "Flip", "Verify", 1004, "sha256 mismatch")


@test(timeout=60)
def one_byte_changed_with_a_matching_catalog(env):
	z = copy_package(env, "Flip2")
	with open(z, "r+b") as f:
		f.seek(os.path.getsize(z) // 2)
		b = f.read(1)
		f.seek(-1, 1)
		f.write(bytes([b[0] ^ 1]))
	fx.catalog(env, fx.PUBLISHER, "Flip2", "1.0", z)
	refused(env, "flip2", "Flip2", "Verify", 1004, "signature: signed for another file (sha256 ")


@test(timeout=60)
def signed_by_another_publisher(env):
	z = copy_package(env, "Other")
	fx.sign_as(env, z, "Contoso.Other", "Other")
	fx.catalog(env, fx.PUBLISHER, "Other", "1.0", z)
	refused(env, "other", "Other", "Verify", 1004, "signer CN=Contoso.Other is not publisher Cloudsim.Samples")


@test(timeout=60)
def missing_signature(env):
	z = copy_package(env, "Unsigned")
	os.unlink(z + ".p7s")
	fx.catalog(env, fx.PUBLISHER, "Unsigned", "1.0", z)
	refused(env, "unsigned", "Unsigned", "Verify", 1004, "signature: no signature")


@test(timeout=60)
def old_format_signature(env):
	z = copy_package(env, "Oldsig")
	fx.sign_old_format(env, z, fx.PUBLISHER)
	fx.catalog(env, fx.PUBLISHER, "Oldsig", "1.0", z)
	refused(env, "oldsig", "Oldsig", "Verify", 1004, "signature: old format (a detached signature of the "
		"package bytes, which does not name the package's type and version)")


def evil(env, type_name, entries):
	z = fx.package_path(env, "Cloudsim.Samples.%s-1.0.zip" % type_name)
	manifest = open(os.path.join(fx.SAMPLES, "hello", "HandlerManifest.json")).read()
	fx.zip_with(z, [("HandlerManifest.json", manifest)] + entries)
	fx.sign_as(env, z, fx.PUBLISHER, type_name)
	fx.catalog(env, fx.PUBLISHER, type_name, "1.0", z)


@test(timeout=60)
def zip_with_dotdot(env):
	evil(env, "DotDot", [("../x", "escaped\n")])
	refused(env, "dotdot", "DotDot", "Install", 1005, "entry '../x'")


@test(timeout=60)
def zip_with_an_absolute_path(env):
	evil(env, "Abs", [("/tmp/extmgr-abs-Abs", "escaped\n")])
	refused(env, "abs", "Abs", "Install", 1005, "entry '/tmp/extmgr-abs-Abs'")


@test(timeout=60)
def zip_with_an_escaping_symlink(env):
	evil(env, "Link", [("x", "/etc", stat.S_IFLNK | 0o777), ("x/passwd-copy", "escaped\n")])
	refused(env, "link", "Link", "Install", 1005, "entry 'x'")
