#!/bin/sh
# run.sh -- every test: the integration scenarios, with the CUnit suites beside them and the fuzz harnesses beside both at idle priority; a suite that failed runs once more alone; ends with what failed, then "total: N passed, N failed".
# Called by `make test` with BUILD set (build or build/san).
BUILD=${BUILD:-build}
passed=0
failed=0
log=$(mktemp)
# What failed, repeated at the very end: a CI log is often read from its tail only.
recap=$(mktemp)
trap 'rm -f "$log" "$recap"' EXIT

count() {
	# Adds the "N passed, N failed" of the last such line in $log.
	line=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$1: no result line: counted as 1 failure"
		echo "FAIL $1: no result line" >>"$recap"
		failed=$((failed + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed}
	passed=$((passed + p))
	failed=$((failed + f))
}

# The libFuzzer harnesses (build/fuzz, already sanitized), one result each:
# 10 s of fuzzing each, or under SANITIZE=1 only their seeds and regression
# inputs once (tests/fuzz/README.md).  They run beside the other tests, as
# SCHED_IDLE: the scheduler gives them only CPU time the suites leave idle
# (the integration tests mostly wait on daemons), so they add little time.
if [ "$SANITIZE" = 1 ]; then
	fuzz_seconds=0
else
	fuzz_seconds=${FUZZ_SECONDS:-10}
fi
fuzzlog=$(mktemp)
trap 'rm -f "$log" "$recap" "$fuzzlog"' EXIT
FUZZ_SECONDS=$fuzz_seconds chrt --idle 0 sh tests/fuzz/run.sh >"$fuzzlog" 2>&1 &
fuzz_pid=$!

# The CUnit suites run beside the integration tests too (those mostly wait), one after the
# other, each into a log of its own; their lines are printed once the integration tests end.
unitdir=$(mktemp -d)
trap 'rm -rf "$log" "$recap" "$fuzzlog" "$unitdir"' EXIT
(
	for t in "$BUILD"/tests/*_test; do
		n=$(basename "$t")
		"$t" >"$unitdir/$n.log" 2>&1
		echo $? >"$unitdir/$n.rc"
	done
) &
unit_pid=$!

ARC_BIN="$BUILD/bin" python3 tests/integration/run.py 2>&1 | tee "$log"
count integration
grep -E '^(FAIL|FLAKY) ' "$log" >>"$recap" || :

wait "$unit_pid"
for t in "$BUILD"/tests/*_test; do
	n=$(basename "$t")
	cp "$unitdir/$n.log" "$log" 2>/dev/null || : >"$log"
	rc=$(cat "$unitdir/$n.rc" 2>/dev/null || echo "(none)")
	if [ "$rc" != 0 ]; then
		# Failed beside the integration tests: once more, alone, as run.py does a
		# module.  A pass then is said (FLAKY, with the first run's lines) and counted.
		if "$t" >"$log.again" 2>&1; then
			grep -E '^Suite|^ +[0-9]+\. |unit ' "$log"
			echo "FLAKY $t: failed beside the integration tests (exit status $rc), passed alone"
			echo "FLAKY $t: failed beside the integration tests (exit status $rc), passed alone" >>"$recap"
			rc=0
			mv "$log.again" "$log"
		else
			rm -f "$log.again"
		fi
	fi
	grep -E '^Suite|^ +[0-9]+\. |unit ' "$log"
	count "$t"
	grep -E 'unit .* [1-9][0-9]* failed' "$log" | sed 's/^/FAIL /' >>"$recap" || :
	if [ "$rc" != 0 ] && ! grep -qE ' [1-9][0-9]* failed' "$log"; then
		echo "$t: exit status $rc"
		echo "FAIL $t: exit status $rc" >>"$recap"
		failed=$((failed + 1))
	fi
done

# The fuzzers' results, printed once the integration tests are done.
wait "$fuzz_pid"
cat "$fuzzlog" >"$log"
cat "$log"
count fuzz
grep -E '^fuzz [^:]*: FAILED' "$log" | sed 's/^/FAIL /' >>"$recap" || :

if [ -s "$recap" ]; then
	echo "what failed:"
	cut -c1-200 "$recap"
fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
