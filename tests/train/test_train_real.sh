#!/bin/sh
# test_train_real.sh: training reads the released PathTracker layout in place.
#
# The real samples (0/ and 1/ folders of 64-frame .npy videos) are trained on
# for two steps with the frames subsampled to 8, and the checkpoint is then
# evaluated on the val split: the run must finish, name the schema and the
# folder in its log, and eval must report that split's size. Skips (77)
# when the data folder is absent.
. "$(dirname "$0")/preamble.sh"
data="$PWD/../shared/data/pathtracker-real"
[ -d "$data/0" ] && [ -d "$data/1" ] || { echo "real PathTracker samples not found at $data"; exit 77; }
fail=0

$CSSMC train models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=8 -D embed_dim=4 \
    --data "$data" --batch 2 --steps 2 $DEVICE --out "$tmp/run" --quiet \
    >"$tmp/out" 2>&1 || { echo "FAIL: training on $data failed:"; cat "$tmp/out"; exit 1; }
grep -q "data: pathtracker-npy .*pathtracker-real" "$tmp/run/train.log" ||
    { echo "FAIL: train.log does not describe the data:"; cat "$tmp/run/train.log"; fail=1; }
$CSSMC eval "$tmp/run/last.safetensors" --split val >"$tmp/eval" 2>&1 || { echo "FAIL: eval failed:"; cat "$tmp/eval"; fail=1; }
val=$(sed -n 's/.*"eval_samples": *\([0-9]*\).*/\1/p' "$tmp/run/config.json")
grep -q "val split, $val samples" "$tmp/eval" || { echo "FAIL: eval did not cover the $val val samples:"; cat "$tmp/eval"; fail=1; }
[ $fail -eq 0 ] && echo "real PathTracker: trained and evaluated in place"
exit $fail
