#!/bin/sh
# test_train_batchnorm.sh: BatchNorm's running averages through a training run.
#
# A tiny sCSSM with batch norms (stem, readout) trains two epochs. Training
# steps normalise with batch statistics and move the running averages on;
# the evaluations after each epoch, `cssmc eval` and `cssmc predict`
# normalise with the averages saved in the checkpoint. So eval on the best
# checkpoint must print the loss its evaluation recorded, and
# --bn-train-mode (batch statistics at evaluation, the reference's
# --bn_train_mode) must print another; `cssmc params` must list the
# averages apart from the parameters.
. "$(dirname "$0")/preamble.sh"
fail=0

model="models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=1 -D embed_dim=4 -D pool_type=max
       -D norm_type=batch"
run="$tmp/run"
$CSSMC train $model --data pathtracker:gen,n=200,frames=1,dist=0 --epochs 2 --batch 8 --lr 1e-2 --warmup 5 \
    $DEVICE --out "$run" --quiet >"$tmp/out" 2>&1 || { echo "FAIL: training failed:"; cat "$tmp/out"; exit 1; }

$CSSMC params $model >"$tmp/params" 2>&1 || { echo "FAIL: cssmc params failed"; cat "$tmp/params"; exit 1; }
nstats=$(grep -c '(running statistic)' "$tmp/params")
[ "$nstats" -eq 6 ] || { echo "FAIL: expected 6 running statistics (3 batch norms), got $nstats"; fail=1; }
grep -q '^running statistics: 24$' "$tmp/params" || { echo "FAIL: params does not count 24 statistics"; fail=1; }

best_loss=$(grep '"event":"eval"' "$run/metrics.jsonl" | grep '"is_best":true' | tail -n 1 |
            sed 's/.*"loss":\([^,}]*\).*/\1/')
loss_of() { sed -n 's/.*loss \([0-9.]*\), accuracy.*/\1/p' "$1"; }
$CSSMC eval "$run/best.safetensors" --split val >"$tmp/eval" 2>&1 || { echo "FAIL: eval failed:"; cat "$tmp/eval"; exit 1; }
$CSSMC eval "$run/best.safetensors" --split val --bn-train-mode >"$tmp/eval_batch" 2>&1 ||
    { echo "FAIL: eval --bn-train-mode failed:"; cat "$tmp/eval_batch"; exit 1; }
running=$(loss_of "$tmp/eval") batch=$(loss_of "$tmp/eval_batch")
awk -v a="$running" -v b="$best_loss" 'BEGIN { exit !(a - b < 1e-6 && b - a < 1e-6) }' ||
    { echo "FAIL: eval (running averages) says loss $running, training recorded $best_loss"; fail=1; }
awk -v a="$running" -v b="$batch" 'BEGIN { exit !(a - b > 1e-4 || b - a > 1e-4) }' ||
    { echo "FAIL: eval with batch statistics gives the running averages' loss $running"; fail=1; }

[ $fail -eq 0 ] && echo "batchnorm: eval with the saved running averages reproduces the recorded loss $best_loss;" \
    "batch statistics give $batch"
exit $fail
