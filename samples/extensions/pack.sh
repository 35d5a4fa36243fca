#!/bin/sh
# pack.sh -- publishes a sample extension to cloudsim's package store: pack.sh SAMPLE VERSION PACKAGES_DIR [PKI_DIR]
#   e.g. samples/extensions/pack.sh hello 1.0 run/cloud/packages run/cloud/pki
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sample=$1 version=$2 out=$3 pki=${4:-}
type=$(sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$here/$sample/HandlerManifest.json" | head -n 1)
cp "$here/common.sh" "$here/$sample/common.sh"
mkdir -p "$out"
exec "${BIN:-build/bin}/cloudsim" ext-pack "$here/$sample" --publisher Cloudsim.Samples \
	--type "$type" --version "$version" -o "$out" ${pki:+--pki "$pki"}
