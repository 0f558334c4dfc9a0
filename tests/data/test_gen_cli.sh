#!/bin/sh
# test_gen_cli.sh: `cssmc data gen` and `cssmc data stats` end to end.
#
# Generates small PathTracker and Pathfinder sets in every output format and
# checks the layouts the originals use (0/ and 1/ .npy class folders;
# imgs/<batch>/sample_<i>.png with metadata/<batch>.npy text rows, or
# imgs/{pos,neg}/), that the bytes do not depend on the thread count, that
# stats reads them back with the right counts, and that bad command lines
# exit 2 with one line and failures exit 1 naming the folder.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# --- command line errors: exit 2, one line naming the problem
"$CSSMC" data gen --help >"$tmp/help" 2>&1 || fail "gen --help exited $?"
grep -q -- "--format native|tfrecord" "$tmp/help" || fail "gen --help does not describe --format"
"$CSSMC" data stats --help >/dev/null 2>&1 || fail "stats --help exited $?"
expect_usage() {  # pattern args...
    pat=$1; shift
    "$CSSMC" data gen "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    [ $rc -eq 2 ] || fail "'$*' exited $rc, expected 2"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "'$*' printed more than one line: $(cat "$tmp/err")"
    grep -q -- "$pat" "$tmp/err" || fail "'$*' message lacks '$pat': $(cat "$tmp/err")"
}
expect_usage bogus pathtracker --bogus 1 --n 2 --out "$tmp/x"
expect_usage "needs a value" pathtracker --n 2 --out "$tmp/x" --frames
expect_usage "frames" pathtracker --frames many --n 2 --out "$tmp/x"
expect_usage "326" pathtracker --frames 128 --skip 4 --n 2 --out "$tmp/x"
expect_usage "required" pathtracker --out "$tmp/x"
expect_usage "pathfinder or pathtracker" movies --n 2 --out "$tmp/x"
expect_usage "preset" pathfinder --preset pf300-cl7 --n 2 --out "$tmp/x"
expect_usage "--format" pathfinder --n 2 --out "$tmp/x" --format jpeg
[ ! -e "$tmp/x" ] || fail "a rejected command line created its output folder"

# --- PathTracker, native: 0/ and 1/ folders, same bytes for 1 and 2 threads
"$CSSMC" data gen pathtracker --n 6 --frames 8 --dist 5 --seed 3 --out "$tmp/pt1" --threads 1 --quiet || fail "pathtracker gen"
"$CSSMC" data gen pathtracker --n 6 --frames 8 --dist 5 --seed 3 --out "$tmp/pt2" --threads 2 --quiet || fail "pathtracker gen (2 threads)"
diff -r "$tmp/pt1" "$tmp/pt2" >/dev/null || fail "output depends on the thread count"
for f in 0/0_sample_0 0/0_sample_2 1/1_sample_0 1/1_sample_2; do
    [ "$(wc -c <"$tmp/pt1/$f.npy")" -eq $((128 + 8 * 32 * 32 * 3)) ] || fail "$f.npy missing or of the wrong size"
done
[ "$(ls "$tmp/pt1/0" | wc -l)" -eq 3 ] && [ "$(ls "$tmp/pt1/1" | wc -l)" -eq 3 ] || fail "expected 3 videos per class"
"$CSSMC" data gen pathtracker --n 6 --frames 8 --dist 5 --seed 4 --out "$tmp/pt3" --quiet || fail "pathtracker gen seed 4"
cmp -s "$tmp/pt1/1/1_sample_0.npy" "$tmp/pt3/1/1_sample_0.npy" && fail "another seed gave the same video"
"$CSSMC" data stats "$tmp/pt1" --json >"$tmp/stats" || fail "stats on pathtracker exited $?"
grep -q '"videos": 6, "labels": \[3, 3\]' "$tmp/stats" || fail "stats counts: $(head -1 "$tmp/stats")"
grep -q '"median_max_visible_dots": 7' "$tmp/stats" || fail "expected 7 visible dots (5 distractors + 2)"

# --- the output folder must be new or empty
"$CSSMC" data gen pathtracker --n 2 --out "$tmp/pt1" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not empty" "$tmp/err" || fail "writing into a full folder: exit $rc, $(cat "$tmp/err")"

# --- Pathfinder, original layout: imgs/<batch>/ and metadata rows
"$CSSMC" data gen pathfinder --preset lra32-hard --n 8 --batch 2 --out "$tmp/pf" --quiet || fail "pathfinder gen"
[ "$(ls "$tmp/pf/imgs/2" | wc -l)" -eq 8 ] || fail "expected 8 PNGs in imgs/2"
rows="$tmp/pf/metadata/2.npy"
[ "$(wc -l <"$rows")" -eq 8 ] || fail "expected 8 metadata rows"
awk 'NF != 11 || $1 != "imgs/2" || $6 != 14 || $7 != 4 || $8 != 2 || $9 != 0.5 || $10 != 1 { bad = 1 } END { exit bad }' "$rows" ||
    fail "metadata rows: $(head -2 "$rows")"
"$CSSMC" data stats "$tmp/pf" >"$tmp/stats" || fail "stats on pathfinder exited $?"
grep -q "contour length  14: 8" "$tmp/stats" || fail "stats: $(cat "$tmp/stats")"
pos=$(awk '$4 == 1' "$rows" | wc -l)
grep -q "label 1: $pos," "$tmp/stats" || fail "stats label counts disagree with the metadata ($pos positives)"

# --- Pathfinder, pos/neg layout
"$CSSMC" data gen pathfinder --preset lra32-easy --n 6 --layout pos-neg --out "$tmp/pfpn" --quiet || fail "pos-neg gen"
n=$(( $(ls "$tmp/pfpn/imgs/pos" | wc -l) + $(ls "$tmp/pfpn/imgs/neg" | wc -l) ))
[ $n -eq 6 ] || fail "pos-neg layout holds $n images, expected 6"
"$CSSMC" data stats "$tmp/pfpn" --json | grep -q '"images": 6' || fail "stats on the pos-neg layout"

# --- released TFRecord schemas
"$CSSMC" data gen pathfinder --preset lra32-easy --n 10 --size 16 --format tfrecord --out "$tmp/pft" --quiet || fail "pathfinder tfrecord"
for s in train val test; do ls "$tmp/pft/$s/"*.tfrecord >/dev/null 2>&1 || fail "no $s shards"; done
grep -q '"image_size": 16' "$tmp/pft/metadata.json" || fail "metadata.json: $(cat "$tmp/pft/metadata.json")"
"$CSSMC" data gen pathtracker --n 10 --frames 4 --format tfrecord --out "$tmp/ptt" --quiet || fail "pathtracker tfrecord"
ls "$tmp/ptt/"train-batch_0--* "$tmp/ptt/"test-batch_0--* >/dev/null 2>&1 || fail "no paper-format shards"
"$CSSMC" data gen pathtracker --n 10 --frames 4 --format tfrecord --schema legacy --out "$tmp/ptl" --quiet || fail "legacy tfrecord"
grep -q '"num_frames": 4' "$tmp/ptl/metadata.json" || fail "legacy metadata.json"

# --- contact sheet
"$CSSMC" data gen pathtracker --n 2 --frames 16 --sheet "$tmp/sheet.png" --quiet || fail "sheet"
[ "$(head -c 4 "$tmp/sheet.png" | od -An -tx1 | tr -d ' ')" = 89504e47 ] || fail "the sheet is not a PNG"

# --- stats on something that is not a dataset
"$CSSMC" data stats "$tmp/nothing" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "$tmp/nothing" "$tmp/err" || fail "stats on a missing folder: exit $rc"
echo "ok"
