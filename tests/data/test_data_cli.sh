#!/bin/sh
# test_data_cli.sh: `cssmc data info|show|check` on the real PathTracker
# videos, and the command line's handling of bad input.
#
# Checks that bad flags exit 2 naming what was expected, that info reports
# the schema and the reference's split of 13 videos (12 train, 1 val), that
# show writes a PNG contact sheet, and that check passes the real data but
# fails, naming the file, on a copy with one video cut short. Skips (77)
# when the real data is absent, after the command-line checks.
set -u
: "${CSSMC:?}" "${CSSM_ROOT:?}"
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

"$CSSMC" data --help >"$tmp/out" 2>&1 || fail "data --help exits $?"
grep -q "info PATH" "$tmp/out" || fail "data --help does not list info"
"$CSSMC" data info --help >/dev/null 2>&1 || fail "data info --help failed"
"$CSSMC" data frobnicate >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown subcommand exits $rc, expected 2"
grep -q "expected info, show, check" "$tmp/out" || fail "unknown subcommand message: $(cat "$tmp/out")"
"$CSSMC" data info . --bogus >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--bogus'" "$tmp/out" || fail "bad flag: exit $rc, $(cat "$tmp/out")"
"$CSSMC" data info . --frames zero >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "expects an integer" "$tmp/out" || fail "bad --frames: exit $rc"
"$CSSMC" data info . --schema nonsense >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "expects pathfinder" "$tmp/out" || fail "bad --schema: exit $rc"
"$CSSMC" data info "$tmp/missing" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/missing: no such folder" "$tmp/out" || fail "missing folder: exit $rc"

real="$CSSM_ROOT/../shared/data/pathtracker-real"
if [ ! -d "$real/0" ] || [ ! -d "$real/1" ]; then
    echo "skipped: no real PathTracker videos in $real"
    exit 77
fi

"$CSSMC" data info "$real" >"$tmp/info" 2>&1 || fail "info failed: $(cat "$tmp/info")"
grep -q "schema   pathtracker-npy" "$tmp/info" || fail "info schema: $(cat "$tmp/info")"
grep -q "stored   64 x 32 x 32 x 3" "$tmp/info" || fail "info stored size: $(cat "$tmp/info")"
grep -Eq "train +12 samples" "$tmp/info" && grep -Eq "val +1 samples" "$tmp/info" || fail "info splits: $(cat "$tmp/info")"
"$CSSMC" data info "$real" --schema pathfinder >"$tmp/out" 2>&1 && fail "a wrong --schema was accepted"
grep -q "holds pathtracker-npy data, not pathfinder" "$tmp/out" || fail "wrong schema message: $(cat "$tmp/out")"

"$CSSMC" data show "$real" --out "$tmp/sheet.png" --n 3 --frames 8 >/dev/null 2>&1 || fail "show failed"
[ "$(head -c 4 "$tmp/sheet.png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "show did not write a PNG"

"$CSSMC" data check "$real" >"$tmp/out" 2>&1 || fail "check of the real data failed: $(cat "$tmp/out")"
grep -q "13 samples read, 0 bad" "$tmp/out" || fail "check output: $(cat "$tmp/out")"
cp -r "$real" "$tmp/copy"
truncate -s 1000 "$tmp/copy/1/1_sample_4.npy"
"$CSSMC" data check "$tmp/copy" >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "check of a cut copy exits $rc, expected 1"
grep -q "1_sample_4.npy: truncated" "$tmp/out" || fail "check does not name the cut file: $(cat "$tmp/out")"
echo "ok"
