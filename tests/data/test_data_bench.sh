#!/bin/sh
# test_data_bench.sh: `cssmc data bench`, what `make bench` runs after the
# training step's bench, as a smoke run (--seconds 0: one sample or batch per
# measurement).
#
# Checks that it prints, with a positive number and its unit, the three
# generators' samples/s per core, the loader's samples/s in each of the three
# PathTracker formats, the training step's consumption, the generator and
# loader ratios to it and a verdict; that its temporary folder is gone
# afterwards; and that bad flags exit 2 with one line. No timing thresholds:
# the numbers depend on the machine.
set -u
: "${CSSMC:?}"
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

"$CSSMC" data bench --help >"$tmp/help" 2>&1 || fail "data bench --help exits $?"
grep -q "usage: cssmc data bench" "$tmp/help" || fail "data bench --help prints no usage"
"$CSSMC" data --help | grep -q "^  bench" || fail "data --help does not list bench"

TMPDIR="$tmp" "$CSSMC" data bench --seconds 0 --step-ms 100 >"$tmp/out" 2>"$tmp/err" ||
    fail "data bench exits $?: $(cat "$tmp/err")"
cat "$tmp/out"
[ -z "$(ls "$tmp" | grep cssmc-bench)" ] || fail "the temporary folder was left behind"

expect() {  # count, pattern whose \1 is the number
    n=$(sed -n "s/$2/\1/p" "$tmp/out" | awk '$1 > 0' | wc -l)
    [ "$n" -eq "$1" ] || fail "expected $1 line(s) matching '$2' with a positive number, got $n"
}
num='\([0-9][0-9.]*\)'
expect 3 "^generator .* $num samples\/s per core\$"
expect 1 "^generator pathtracker, 32 frames of 32x32.* $num samples\/s per core\$"
expect 3 "^loader pathtracker .* $num samples\/s at batch 8\$"
expect 1 "^loader pathtracker GZIP TFRecord.* $num samples\/s at batch 8\$"
expect 1 "^loader pathtracker .npy.* $num samples\/s at batch 8\$"
expect 1 "^training step: 100 ms per batch of 8 = $num samples\/s\$"
grep -q "^training step: 100 ms per batch of 8 = 80.0 samples/s\$" "$tmp/out" || fail "8 samples per 100 ms is not 80 samples/s"
expect 1 "^ratio generator\/training, pathtracker.*: ${num}x\$"
expect 3 "^ratio loader\/training, pathtracker .*: ${num}x\$"
expect 1 "^loader [a-z ]*keep[s]* up: ${num}x the training step's consumption (8 samples per 100 ms) .*"

"$CSSMC" data bench --seconds 0 >"$tmp/out" 2>&1 || fail "data bench without --step-ms exits $?"
grep -q "^training step: not given" "$tmp/out" || fail "without --step-ms: $(tail -n 1 "$tmp/out")"
grep -q "^ratio" "$tmp/out" && fail "ratios printed without a step time"

expect_usage() {  # pattern, args...
    pat=$1; shift
    "$CSSMC" data bench "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] || fail "'data bench $*' exits $rc, expected 2"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "'data bench $*' printed more than one line: $(cat "$tmp/err")"
    grep -q -- "$pat" "$tmp/err" || fail "'data bench $*' message lacks '$pat': $(cat "$tmp/err")"
}
expect_usage "unknown option '--bogus'" --bogus
expect_usage "--step-ms expects a positive number" --step-ms fast
expect_usage "--step-ms expects a positive number" --step-ms 0
expect_usage "--seconds expects a value" --seconds
expect_usage "--batch expects an integer" --batch 0
expect_usage "unexpected argument" somewhere
echo "data bench: all checks passed"
