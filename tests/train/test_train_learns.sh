#!/bin/sh
# test_train_learns.sh: training lowers the loss, and eval/predict agree.
#
# Generated PathTracker with one frame and no distractors is trivially
# learnable: the end marker hides the start marker exactly when the label
# is 1. A tiny sCSSM (4 channels, max pooling) trained a few epochs on it
# must end with a training loss well below that of its first step (at the
# initial parameters) and a validation loss well below chance's ln 2, with
# at least 90% validation accuracy; the run directory must hold the documented
# files and config.json keys; `eval` on the best checkpoint must print the
# accuracy it recorded, and `predict` must write [samples, 2] float32
# logits whose argmax accuracy is eval's.
. "$(dirname "$0")/preamble.sh"
fail=0

run="$tmp/run"
$CSSMC train models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=1 -D embed_dim=4 \
    -D pool_type=max --data pathtracker:gen,n=300,frames=1,dist=0 --epochs 3 --batch 8 --lr 1e-2 --warmup 5 \
    $DEVICE --out "$run" --quiet >"$tmp/out" 2>&1 || { echo "FAIL: training failed:"; cat "$tmp/out"; exit 1; }

for f in config.json metrics.jsonl train.log last.safetensors best.safetensors; do
    [ -s "$run/$f" ] || { echo "FAIL: $run/$f is missing"; fail=1; }
done
for key in cssmc_version model model_sha256 model_source defines data epochs batch lr weight_decay \
    no_decay warmup grad_clip label_smoothing patience seed device save_every optimizer resolved total_steps; do
    grep -q "\"$key\":" "$run/config.json" || { echo "FAIL: config.json has no \"$key\""; fail=1; }
done

# field EVENT KEY N: the value of KEY in the N-th (1 = first, $ = last) EVENT record
field() {
    grep "\"event\":\"$1\"" "$run/metrics.jsonl" | sed -n "$3p" | sed "s/.*\"$2\":\([^,}]*\).*/\1/"
}
first_step=$(field train loss 1) last_train=$(field epoch loss '$') last_val=$(field eval loss '$')
awk -v a="$first_step" -v b="$last_train" 'BEGIN { exit !(b < a - 0.2) }' ||
    { echo "FAIL: training loss went from $first_step (first step) to $last_train (last epoch)"; fail=1; }
awk -v b="$last_val" 'BEGIN { exit !(b < 0.35) }' || { echo "FAIL: final validation loss $last_val"; fail=1; }
best=$(field eval best_acc '$')
awk -v a="$best" 'BEGIN { exit !(a >= 0.9) }' || { echo "FAIL: best validation accuracy $best"; fail=1; }

$CSSMC eval "$run/best.safetensors" --split val >"$tmp/eval" 2>&1 || { echo "FAIL: eval failed:"; cat "$tmp/eval"; fail=1; }
acc=$(sed -n 's/.*accuracy \([0-9.]*\).*/\1/p' "$tmp/eval")
awk -v a="$acc" -v b="$best" 'BEGIN { exit !(a - b < 1e-6 && b - a < 1e-6) }' ||
    { echo "FAIL: eval says accuracy $acc, training recorded $best"; cat "$tmp/eval"; fail=1; }

$CSSMC predict "$run/best.safetensors" --split val --out "$tmp/logits.npy" >"$tmp/pred" 2>&1 ||
    { echo "FAIL: predict failed:"; cat "$tmp/pred"; fail=1; }
grep -q "accuracy $acc" "$tmp/pred" || { echo "FAIL: predict's accuracy differs from eval's:"; cat "$tmp/pred"; fail=1; }
n=$(sed -n 's/.*val split, \([0-9]*\) samples.*/\1/p' "$tmp/eval")
hlen=$(od -An -tu2 -j8 -N2 "$tmp/logits.npy" | tr -d ' ')
head -c $((10 + hlen)) "$tmp/logits.npy" | grep -q "'descr': '<f4', 'fortran_order': False, 'shape': ($n, 2)" ||
    { echo "FAIL: logits.npy header is not float32 ($n, 2)"; fail=1; }
[ "$(wc -c <"$tmp/logits.npy")" -eq $((10 + hlen + n * 2 * 4)) ] || { echo "FAIL: logits.npy has the wrong size"; fail=1; }

[ $fail -eq 0 ] && echo "learns: loss $first_step -> $last_train (validation $last_val), accuracy $best; eval and predict agree"
exit $fail
