#!/bin/bash
# smallget.sh -- the small-GET row alone, for profiling: benchorigin, one proxy (arcproxy with the
# bench's settings, or the bare forwarder) and arcbench (100 B GETs, 64 keep-alive connections).
#
#   bench/smallget.sh [--forwarder] BIN_DIR cpu [SECONDS]        CPU us per GET of each process
#   bench/smallget.sh BIN_DIR callgrind [GETS]                   arcproxy's user-space instructions
#                                                                per GET (valgrind, its event loops)
#   bench/smallget.sh [--forwarder] BIN_DIR perf [SECONDS]       perf record of the proxy (-g);
#                                                                prints where perf.data is kept
#   bench/smallget.sh [--forwarder] BIN_DIR syscalls [GETS]      system calls per GET of each
#                                                                process (strace -c; slow, counts only)
# SMALLGET_KEEP=1 keeps the work directory (callgrind.out, the logs) and says where.
#
# As root (arcproxy drops to the user arcproxy, which must exist; make bench creates it).  Loopback
# only; everything it starts stops at the end.  No verdict: the numbers are for comparing two
# builds on the same machine, one after the other (see bench/README.md).
set -eu

fwd=0
if [ "${1:-}" = --forwarder ]; then
	fwd=1
	shift
fi
if [ $# -lt 2 ]; then
	sed -n '4,12p' "$0" >&2
	exit 2
fi
bin=$(cd "$1" && pwd)
mode=$2
amount=${3:-}
[ "$(id -u)" = 0 ] || { echo "smallget.sh: run as root" >&2; exit 2; }
id arcproxy >/dev/null 2>&1 || { echo "smallget.sh: no user arcproxy (make bench makes it)" >&2; exit 2; }
[ "$mode" = callgrind ] && [ "$fwd" = 1 ] && { echo "smallget.sh: callgrind counts arcproxy only" >&2; exit 2; }

work=$(mktemp -d /tmp/smallget.XXXXXX)
chmod 755 "$work"
mkdir "$work/conf" "$work/state" "$work/run" "$work/origin"
chown arcproxy "$work/state"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "$mode" = perf ] || [ -n "${SMALLGET_KEEP:-}" ]; then
		echo "kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# The origin prints its ports on its first line.
(cd "$work/origin" && exec "$bin/benchorigin" -t 2 --http 0 --tls 0 --tcp 0) \
    >"$work/origin.out" 2>"$work/origin.err" &
opid=$!
pids+=("$opid")
for _ in $(seq 100); do [ -s "$work/origin.out" ] && break; sleep 0.1; done
hp=$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$work/origin.out")
[ -n "$hp" ] || { echo "smallget.sh: benchorigin did not start" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

if [ "$fwd" = 1 ]; then
	"$bin/splicerelay" -f "127.0.0.1:$hp" "$port" >/dev/null 2>"$work/proxy.err" &
	target=(--direct --target "127.0.0.1:$port")
else
	# bench/run.py's arcproxy: one worker, the access log on.
	cat >"$work/conf/arcproxy.conf" <<EOF
listen = [ "127.0.0.1:$port" ];
admin_listen = "";
workers = 1;
routes = ( { match = "127.0.0.1:$hp"; route = "direct"; } );
default_route = "deny";
dns_servers = [ "127.0.0.1" ];
access_log = "access.log";
EOF
	wrap=()
	if [ "$mode" = callgrind ]; then
		# Started as arcproxy, not dropping to it: valgrind then writes its file as
		# the user that runs the program.
		chown arcproxy "$work/run"
		chmod 777 "$work"
		wrap=(setpriv --reuid=arcproxy --regid=arcproxy --clear-groups
		      valgrind --tool=callgrind --collect-atstart=no
		      --toggle-collect=event_base_loop "--callgrind-out-file=$work/callgrind.out")
	fi
	"${wrap[@]}" "$bin/arcproxy" -d --config-dir "$work/conf" --state-dir "$work/state" \
	    --run-dir "$work/run" 2>"$work/proxy.err" &
	target=(--proxy "127.0.0.1:$port" --target "127.0.0.1:$hp")
fi
ppid=$!
pids+=("$ppid")
for _ in $(seq 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
load=("$bin/arcbench" --mode http "${target[@]}" -s 100 -c 64 -t 2)

case $mode in
cpu)
	"${load[@]}" -d 0.5 >/dev/null
	out=$("${load[@]}" -d "${amount:-3}" --pid "$ppid" --pid "$opid" --pid self)
	echo "$out" | sed -n 2p
	req=$(echo "$out" | awk '/requests/ {print $2}')
	echo "$out" | awk -v r="$req" -v names="proxy origin arcbench" '
		BEGIN { split(names, n, " ") }
		/pid [0-9]+:/ { for (i = 1; i <= NF; i++) if ($i == "CPU") {
			k++; printf "%-9s %6.2f us CPU per GET\n", n[k], $(i - 1) * 1e6 / r } }'
	;;
callgrind)
	gets=${amount:-20000}
	"${load[@]}" -n 2000 >/dev/null
	"${load[@]}" -n "$gets" -d 120 | sed -n 2p
	kill "$ppid"
	wait "$ppid" 2>/dev/null || true
	total=$(callgrind_annotate "$work/callgrind.out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
	echo "arcproxy: $total instructions in its event loops for $((gets + 2000)) GETs:" \
	    "$((total / (gets + 2000))) per GET"
	;;
perf)
	"${load[@]}" -d 0.5 >/dev/null
	perf record -g -o "$work/perf.data" -p "$ppid" -- sleep "${amount:-4}" 2>/dev/null &
	rec=$!
	"${load[@]}" -d "${amount:-4}" | sed -n 2p
	wait "$rec"
	echo "perf report -i $work/perf.data"
	;;
syscalls)
	# The counts, not the times: strace slows every process down alike.
	gets=${amount:-20000}
	"${load[@]}" -n 2000 >/dev/null
	for p in "$ppid" "$opid"; do
		strace -c -f -o "$work/strace.$p" -p "$p" 2>/dev/null &
		pids+=("$!")
	done
	sleep 1
	strace -c -f -o "$work/strace.bench" "${load[@]}" -n "$gets" -d 300 | sed -n 2p
	kill -INT "${pids[@]: -2}"
	wait "${pids[@]: -2}" 2>/dev/null || true
	for f in "proxy:$work/strace.$ppid" "origin:$work/strace.$opid" "arcbench:$work/strace.bench"; do
		awk -v who="${f%%:*}" -v n="$gets" '
			$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
				t += $4; if ($4 / n >= 0.01) s = s sprintf(" %s %.2f", $NF, $4 / n) }
			END { printf "%-9s %6.2f calls per GET:%s\n", who, t / n, s }' "${f#*:}"
	done
	;;
*)
	echo "smallget.sh: unknown mode $mode (cpu, callgrind, perf, syscalls)" >&2
	exit 2
	;;
esac
