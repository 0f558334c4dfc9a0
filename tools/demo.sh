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
# The configuration is sized for two CPU cores: 16-frame videos with the
# released sets' 14 distractor dots, 8 channels, max pooling, batch 16,
# 600 steps (2 epochs of the 4860 training videos) on the fused cpu device (cuda
# when a GPU is present): two minutes on an idle machine, and well under
# ten with the cores shared. OpenMP threads wait passively here: spinning
# threads cost four times the step time when other work shares the cores. The reference executor is ten times slower,
# so if the fused device cannot start here the demo falls back to
# `--device ref` on 8 of the 16 frames for 250 steps. DEMO_DIR moves the
# outputs (default build/demo); DEMO_STEPS overrides the step count.
set -eu
cd "$(dirname "$0")/.."
CSSMC=build/cssmc
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
out=${DEMO_DIR:-build/demo}
start=$(date +%s)
frames=16
[ -x "$CSSMC" ] || { echo "demo: $CSSMC is not built (run make)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
echo "demo: generating 6000 PathTracker videos ($frames frames, 14 distractors) in $out/data"
$CSSMC data gen pathtracker --n 6000 --frames $frames --dist 14 --format tfrecord --out "$out/data" --quiet

train() {  # frames steps [flags...]
    steps=${DEMO_STEPS:-$2}
    $CSSMC train models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=$1 \
        -D embed_dim=8 -D pool_type=max --data "$out/data" --batch 16 --steps "$steps" --lr 1e-3 \
        --warmup 40 --log-every 50 --out "$out/run" ${3:-}
}

# Runs train, showing its output and keeping it; the status goes to a file
# because a pipeline's status is its last command's (and `||` keeps set -e
# from ending the group before it is written).
train_logged() {
    { train "$@" && echo 0 >"$out/train.rc" || echo $? >"$out/train.rc"; } 2>&1 | tee "$out/train.out"
    return "$(cat "$out/train.rc")"
}

echo "demo: training sCSSM (no_gate) on the default device"
rc=0
train_logged $frames 600 || rc=$?
if [ $rc -eq 2 ] && grep -q -- "--device" "$out/train.out"; then
    echo "demo: the fused device cannot run here; training on --device ref instead"
    rm -rf "$out/run"
    train_logged 8 250 "--device ref"
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
