#!/bin/sh
# test_train_errors.sh: bad command lines and bad checkpoints fail cleanly.
#
# Bad flags and values (a negative learning rate, a zero batch, an unknown
# -D name, a missing data folder, an unknown flag or device, a bad generator
# option) must each give one line on stderr and exit status 2 before any
# work: no run directory appears. A truncated, garbled or foreign checkpoint
# must give one line naming the file and exit status 1, on `train --resume`
# and on `eval`; flags that contradict a run's config.json are refused on
# --resume.
. "$(dirname "$0")/preamble.sh"
fail=0

MODEL="models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=1 -D embed_dim=4 -D pool_type=max"
DATA="--data pathtracker:gen,n=40,frames=1,dist=0 $DEVICE"

# expect STATUS TEXT command...: exit STATUS, one stderr line containing TEXT.
expect() {
    want=$1 text=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$text" "$tmp/err"; then
        echo "FAIL: $* -> exit $rc (want $want, one line with '$text'); stderr:"
        cat "$tmp/err"
        fail=1
    fi
}

# ---- bad flags: exit 2, nothing created
never="$tmp/never"
expect 2 "--lr expects a positive number, got '-1'" $CSSMC train $MODEL $DATA --lr -1 --out "$never"
expect 2 "--batch expects a positive integer, got '0'" $CSSMC train $MODEL $DATA --batch 0 --out "$never"
expect 2 "no hyperparameter named bogus" $CSSMC train $MODEL -D bogus=3 $DATA --out "$never"
expect 2 "$tmp/no-such-data" $CSSMC train $MODEL --data "$tmp/no-such-data" --out "$never"
expect 2 "--data is required" $CSSMC train $MODEL --out "$never"
expect 2 "pathtracker option frames" $CSSMC train $MODEL --data pathtracker:gen,frames=0 --out "$never"
expect 2 "unknown option '--frobnicate'" $CSSMC train $MODEL $DATA --frobnicate --out "$never"
expect 2 "--device expects ref, cpu or cuda" $CSSMC train $MODEL $DATA --device gpu --out "$never"
expect 2 "--label-smoothing expects a number in [0, 1)" $CSSMC train $MODEL $DATA --label-smoothing 1 --out "$never"
expect 2 "--epochs expects a positive integer" $CSSMC train $MODEL $DATA --epochs 0 --out "$never"
expect 2 "--weight-decay expects a non-negative number" $CSSMC train $MODEL $DATA --weight-decay -0.1 --out "$never"
expect 2 "no model file given" $CSSMC train $DATA --out "$never"
expect 2 "--scan expects seq or assoc, got 'tree'" $CSSMC train $MODEL $DATA --scan tree --out "$never"
[ -e "$never" ] && { echo "FAIL: a refused command created $never"; fail=1; }

# ---- a real (tiny) run to spoil
run="$tmp/run"
$CSSMC train $MODEL $DATA --steps 3 --out "$run" --quiet >"$tmp/out" 2>&1 ||
    { echo "FAIL: the tiny run failed:"; cat "$tmp/out"; exit 1; }
[ -s "$run/last.safetensors" ] && [ -s "$run/best.safetensors" ] || { echo "FAIL: no checkpoints in $run"; exit 1; }
# --scan reaches the model and the run's settings
$CSSMC train $MODEL $DATA --steps 2 --scan assoc --out "$tmp/assoc" --quiet >"$tmp/out" 2>&1 &&
    grep -q '"scan": *"assoc"' "$tmp/assoc/config.json" ||
    { echo "FAIL: a --scan assoc run failed or did not record it:"; cat "$tmp/out"; fail=1; }
expect 2 "is not empty" $CSSMC train $MODEL $DATA --steps 3 --out "$run"
expect 2 "--lr differs from the run's" $CSSMC train --resume "$run" --lr 0.5
expect 2 "leave out --out" $CSSMC train --resume "$run" --out "$run"
expect 2 "no such checkpoint file" $CSSMC eval "$run/missing.safetensors"
expect 2 "$tmp/nowhere/config.json" $CSSMC train --resume "$tmp/nowhere"

cp "$run/last.safetensors" "$tmp/good.safetensors"
size=$(wc -c <"$tmp/good.safetensors")
head -c $((size / 2)) "$tmp/good.safetensors" >"$run/last.safetensors"       # truncated data
expect 1 "$run/last.safetensors" $CSSMC train --resume "$run" --quiet
expect 1 "$run/last.safetensors" $CSSMC eval "$run/last.safetensors"
head -c 12 "$tmp/good.safetensors" >"$run/last.safetensors"                   # truncated header
expect 1 "$run/last.safetensors" $CSSMC train --resume "$run" --quiet
printf 'not a checkpoint at all' >"$run/best.safetensors"                     # garbage
expect 1 "$run/best.safetensors" $CSSMC eval "$run/best.safetensors"
cp "$tmp/good.safetensors" "$run/last.safetensors"                             # a byte of the JSON header
printf '\001' | dd of="$run/last.safetensors" bs=1 seek=20 conv=notrunc 2>/dev/null
expect 1 "$run/last.safetensors" $CSSMC train --resume "$run" --quiet
expect 1 "$run/last.safetensors" $CSSMC eval "$run/last.safetensors"

# a checkpoint of another model (wider): its tensors do not match
other="$tmp/other"
$CSSMC train models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=1 -D embed_dim=6 \
    -D pool_type=max $DATA --steps 1 --out "$other" --quiet >"$tmp/out" 2>&1 || { cat "$tmp/out"; exit 1; }
cp "$other/last.safetensors" "$run/last.safetensors"
expect 1 "$run/last.safetensors" $CSSMC train --resume "$run" --quiet

# the intact checkpoint resumes (the run had finished: nothing left to do)
cp "$tmp/good.safetensors" "$run/last.safetensors"
$CSSMC train --resume "$run" --quiet >"$tmp/out" 2>&1 || { echo "FAIL: intact resume failed:"; cat "$tmp/out"; fail=1; }
grep -q "trained 3 of 3 steps" "$tmp/out" || { echo "FAIL: unexpected summary:"; cat "$tmp/out"; fail=1; }

[ $fail -eq 0 ] && echo "train errors: ok"
exit $fail
