#!/usr/bin/env python3
# pkg_unpack_seeds.py -- writes the pkg_unpack harness's seeds (small zips: good trees, and each kind that unpack refuses) into tests/fuzz/corpus/pkg_unpack/.
import io
import os
import stat
import sys
import warnings
import zipfile

warnings.simplefilter("ignore")  # the duplicate-name seed is meant

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "corpus", "pkg_unpack")


def entry(name, mode, data=b"", deflate=False):
    zi = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    zi.create_system = 3
    zi.external_attr = mode << 16
    zi.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    return zi, data


def write(fname, entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for zi, data in entries:
            z.writestr(zi, data)
    with open(os.path.join(out, fname), "wb") as f:
        f.write(buf.getvalue())


REG = stat.S_IFREG
os.makedirs(out, exist_ok=True)
write("handler", [
    entry("HandlerManifest.json", REG | 0o644,
          b'[{"version":1.0,"handlerManifest":{"enableCommand":"bin/enable.sh"}}]'),
    entry("bin/", stat.S_IFDIR | 0o755),
    entry("bin/enable.sh", REG | 0o755, b"#!/bin/sh\necho enabled\n"),
    entry("lib/a/b.txt", REG | 0o600, b"b" * 40, True),
])
write("deflated", [entry("x/y/z", REG | 0o4755, b"hello " * 50, True),
                   entry("x\\w.txt", REG | 0o644, b"w")])
write("empty", [])
write("dotdot", [entry("ok", REG | 0o644, b"ok"), entry("a/../../x", REG | 0o644, b"x")])
write("absolute", [entry("/tmp/abs", REG | 0o644, b"x")])
write("symlink", [entry("link", stat.S_IFLNK | 0o777, b"../../etc")])
write("device", [entry("dev", stat.S_IFCHR | 0o644)])
write("duplicate", [entry("a", REG | 0o644, b"1"), entry("a", REG | 0o644, b"2")])
write("file_then_dir", [entry("a", REG | 0o644, b"1"), entry("a/b", REG | 0o644, b"2")])
