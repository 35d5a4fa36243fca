#!/bin/sh
# assign.sh -- the guest configuration demo under `make run`: demo.json packed into cloudsim's package store and assigned (ApplyAndAutoCorrect) to this machine, its targets under DIR.
#   samples/guestconfig-demo/assign.sh [DIR]     (DIR: an absolute directory; default $PWD/run/demo)
set -eu
BIN=${BIN:-build/bin}
dir=${1:-$PWD/run/demo}
case $dir in /*) ;; *) echo "assign.sh: DIR must be absolute" >&2; exit 2 ;; esac
mkdir -p "$dir"
[ -f "$dir/sshd_config" ] || printf 'Port 22\nPermitRootLogin yes\n' > "$dir/sshd_config"
out=$("$BIN"/cloudsim gc-pack samples/guestconfig-demo/demo.json --name demo --version 1.0.0 \
	-o run/cloud/packages --pki run/cloud/pki)
uri=$(echo "$out" | sed -n 's/^  contentUri //p')
hash=$(echo "$out" | sed -n 's/^  contentHash //p')
machine=$(hostname | tr -c 'A-Za-z0-9\n-' -)
curl -sf -X PUT -H 'Content-Type: application/json' \
	"http://127.0.0.1:8447/operator/machines/$machine/guestConfigurationAssignments/demo" \
	-d '{"contentUri": "'"$uri"'", "contentHash": "'"$hash"'",
	     "assignmentType": "ApplyAndAutoCorrect",
	     "configurationParameter": [
	       {"name": "[file]motd;path", "value": "'"$dir"'/motd"},
	       {"name": "[file_line]no_root_login;path", "value": "'"$dir"'/sshd_config"}]}' >/dev/null
echo "assign.sh: demo assigned to $machine: $dir/motd and $dir/sshd_config are now enforced"
