#!/bin/sh
# demo.sh: what `make demo` runs (after tools/deps.sh and the build).
#
# Generates a small PathTracker set (GZIP TFRecords in the paper's layout:
# a tenth of the videos held out as test, the last tenth of the training
# shards as val), trains sCSSM on it (models/simple.cssm with the no_gate
# block and the 1x1 PathTracker stem) on the fastest device present, then
# evaluates the best checkpoint on the held-out test split and prints its
# accuracy (chance is 50%), the wall time and where the run directory is.
#
# The configuration is sized for two CPU cores: 8-frame videos with 4
# distractor dots, 8 channels, batch 16, 400 steps on the fused cpu device
# (cuda when a GPU is present). The reference executor is about ten times
# slower, so if the fused device cannot start here the demo falls back to
# `--device ref` with 160 steps. DEMO_DIR moves the outputs (default
# build/demo); DEMO_STEPS overrides the step count.
set -eu
cd "$(dirname "$0")/.."
CSSMC=build/cssmc
out=${DEMO_DIR:-build/demo}
start=$(date +%s)
frames=8
[ -x "$CSSMC" ] || { echo "demo: $CSSMC is not built (run make)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
echo "demo: generating 4000 PathTracker videos ($frames frames, 4 distractors) in $out/data"
$CSSMC data gen pathtracker --n 4000 --frames $frames --dist 4 --format tfrecord --out "$out/data" --quiet

train() {  # steps [flags...]
    steps=${DEMO_STEPS:-$1}
    shift
    $CSSMC train models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=$frames \
        -D embed_dim=8 -D pool_type=max --data "$out/data" --batch 16 --steps "$steps" --lr 1e-3 \
        --warmup 40 --log-every 25 --out "$out/run" "$@"
}

# Runs train, showing its output and keeping it; the status goes to a file
# because a pipeline's status is its last command's.
train_logged() {
    { train "$@"; echo $? >"$out/train.rc"; } 2>&1 | tee "$out/train.out"
    return "$(cat "$out/train.rc")"
}

echo "demo: training sCSSM (no_gate) on the default device"
rc=0
train_logged 400 || rc=$?
if [ $rc -eq 2 ] && grep -q -- "--device" "$out/train.out"; then
    echo "demo: the fused device cannot run here; training on --device ref instead"
    rm -rf "$out/run"
    train_logged 160 --device ref
elif [ $rc -ne 0 ]; then
    exit $rc
fi

echo "demo: evaluating the best checkpoint on the held-out test split"
result=$($CSSMC eval "$out/run/best.safetensors" --split test)
echo "$result"
acc=$(echo "$result" | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p')
device=$(sed -n 's/.*"device": *"\([a-z]*\)".*/\1/p' "$out/run/config.json" | head -n 1)
end=$(date +%s)
echo
echo "demo: test accuracy $(awk -v a="$acc" 'BEGIN { printf "%.1f%%", 100 * a }') (chance 50%) on device $device," \
    "$((end - start)) s for data, training and evaluation"
echo "demo: run directory $out/run (config.json, metrics.jsonl, train.log, best/last.safetensors)"
