#!/bin/sh
# run.sh -- runs the named libFuzzer harnesses (all with a corpus when none is named) for FUZZ_SECONDS each on a copy of their corpus; ends with "fuzz: N passed, N failed".
# FUZZ_SECONDS=0 replays the seeds and the regression inputs once, without fuzzing.
# A crash, leak, timeout or sanitizer report fails the harness; the input that
# caused it is printed and kept in build/fuzz/crashes/.
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
here=tests/fuzz
passed=0
failed=0

if [ $# -eq 0 ]; then
	set -- $(ls "$here/corpus")
fi
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	base=/dev/shm
else
	base=${TMPDIR:-/tmp}
fi
tmp=$(mktemp -d "$base/arc-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$FUZZ_DIR/crashes"
lsan=suppressions=$here/lsan.supp:print_suppressions=0

# Prints the input that broke harness $1 (file $2) and keeps a copy.
show_input() {
	echo "fuzz $1: input that failed: $2 ($(wc -c <"$2") bytes)"
	od -A d -c "$2" | head -n 48
	cp "$2" "$FUZZ_DIR/crashes/$1-$(basename "$2")" 2>/dev/null &&
		echo "fuzz $1: kept as $FUZZ_DIR/crashes/$1-$(basename "$2");" \
		    "replay: $FUZZ_DIR/$1_fuzz $FUZZ_DIR/crashes/$1-$(basename "$2")"
}

for h in "$@"; do
	bin=$FUZZ_DIR/${h}_fuzz
	work=$tmp/$h
	mkdir -p "$work/corpus" "$work/out"
	if [ ! -x "$bin" ]; then
		echo "fuzz $h: FAILED: $bin is not built (make fuzz-build)"
		failed=$((failed + 1))
		continue
	fi
	cp "$here/corpus/$h"/* "$work/corpus/" 2>/dev/null
	case $h in
	http_*)	maxlen=8192 ;;
	*)	maxlen=4096 ;;
	esac
	set -- -rss_limit_mb=1024 -max_len=$maxlen -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$work/out/"
	# The harness's own dictionary, else its family's (http.dict, conf.dict).
	for d in "$here/$h.dict" "$here/${h%%_*}.dict" "$here/${h#*_}.dict"; do
		if [ -f "$d" ]; then
			set -- "$@" -dict="$d"
			break
		fi
	done
	log=$work/log
	rc=0
	# The regression inputs one by one, so that each one that fails is
	# named, then the seeds, one run each.
	bad=""
	for f in "$here/regress/$h"/*; do
		[ -f "$f" ] || continue
		if ! TMPDIR=$work UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=$lsan \
		    "$bin" "$@" "$f" >"$log" 2>&1; then
			echo "fuzz $h: FAILED on regression input $f:"
			grep -v '^INFO:\|^Running:\|^Executed\|^ *#[0-9]' "$log" | tail -n 30
			show_input "$h" "$f"
			bad=1
		fi
	done
	files=$(ls "$work/corpus"/* 2>/dev/null)
	if [ -n "$files" ]; then
		# shellcheck disable=SC2086
		TMPDIR=$work UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=$lsan \
		    "$bin" "$@" $files >"$log" 2>&1 || rc=$?
		if [ $rc -ne 0 ]; then
			f=$(grep '^Running: ' "$log" | tail -n 1 | cut -c 10-)
			echo "fuzz $h: FAILED on seed $f:"
			grep -v '^INFO:\|^Running:\|^Executed\|^ *#[0-9]' "$log" | tail -n 60
			[ -n "$f" ] && show_input "$h" "$f"
			bad=1
		fi
	fi
	if [ -n "$bad" ]; then
		failed=$((failed + 1))
		continue
	fi
	files=$(ls "$here/regress/$h"/* "$work/corpus"/* 2>/dev/null)
	if [ "$secs" -gt 0 ]; then
		TMPDIR=$work UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=$lsan \
		    "$bin" "$@" -max_total_time="$secs" "$work/corpus" >"$log" 2>&1 || rc=$?
		stats=$(awk '/^stat::number_of_executed_units/ { r = $2 }
		    /^stat::average_exec_per_sec/ { e = $2 }
		    /^#[0-9]+/ { for (i = 1; i <= NF; i++) { if ($i == "cov:") c = $(i + 1); if ($i == "ft:") f = $(i + 1) } }
		    END { printf "%s runs, %s exec/s, cov %s, ft %s", r, e, c, f }' "$log")
	else
		stats="replayed $(echo "$files" | grep -c .) inputs"
	fi
	if [ $rc -ne 0 ]; then
		echo "fuzz $h: FAILED ($stats)"
		grep -v '^INFO:\|^#[0-9]' "$log" | tail -n 60
		for a in "$work/out"/*; do
			[ -f "$a" ] && show_input "$h" "$a"
		done
		failed=$((failed + 1))
	else
		echo "fuzz $h: passed ($stats)"
		passed=$((passed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
