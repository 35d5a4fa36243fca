#!/bin/sh
# deb.sh -- `make deb`: build/arc-appliance_<version>_<arch>.deb with dpkg-deb from `make install` into a staging root.
# Depends comes from the programs' shared libraries (dpkg-shlibdeps); the files
# of /etc/arc are conffiles.  Needs BIN, BUILD and VERSION from the Makefile.
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case "$BUILD" in *san*)
	echo "deb.sh: refusing to package a sanitizer build ($BUILD)" >&2; exit 1 ;;
esac
arch=$(dpkg --print-architecture)
work=$BUILD/deb
root=$work/root
deb=$BUILD/arc-appliance_${VERSION}_${arch}.deb
case $root in
/*)	absroot=$root ;;
*)	absroot=$top/$root ;;
esac
rm -rf "$work"
mkdir -p "$root/DEBIAN"

${MAKE:-make} -s install DESTDIR="$absroot" BUILD="$BUILD" PREFIX=/usr \
    UNITDIR=/lib/systemd/system >/dev/null
for f in "$root"/usr/sbin/* "$root"/usr/bin/*; do
	strip --strip-unneeded --remove-section=.comment --remove-section=.note "$f"
done

doc=$root/usr/share/doc/arc-appliance
install -d -m 0755 "$doc"
install -m 0644 packaging/debian/copyright "$doc/copyright"
install -m 0644 README.md "$doc/README.md"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DATE@/$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")/" \
    packaging/debian/changelog | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# dpkg-shlibdeps wants a debian/control to read; a scratch one is enough.
mkdir -p "$work/src/debian"
printf 'Source: arc-appliance\n\nPackage: arc-appliance\nArchitecture: any\n' \
    > "$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O $(
    for f in "$absroot"/usr/sbin/* "$absroot"/usr/bin/*; do printf '%s ' "$f"; done) |
    sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" packaging/debian/control.in > "$root/DEBIAN/control"
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 packaging/debian/$s "$root/DEBIAN/$s"
done
find "$root" -type d -exec chmod 0755 {} +
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
