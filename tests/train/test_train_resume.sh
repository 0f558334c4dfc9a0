#!/bin/sh
# test_train_resume.sh: a run killed with kill -9 and resumed ends bit for bit
# where an uninterrupted run ends.
#
# Run A trains uninterrupted. Run B, the same command in another directory,
# is killed (SIGKILL) once it has logged a few steps (so mid-epoch, between
# periodic checkpoints, possibly mid-write); its metrics.jsonl then gets a
# torn last line and its directory a temporary checkpoint, as a kill
# mid-write leaves them, and `train --resume` finishes it. last.safetensors
# and best.safetensors of A and B must be identical files (the same
# parameters, optimizer moments, counters and position), metrics.jsonl must
# hold only whole lines, no temporary file may remain, and train.log must
# say it resumed. If B finishes before it can be killed, the run is made
# longer and tried again. Two models: sCSSM, and a spatial-attention block
# with drop-path, whose random masks must follow the step, not the process,
# and batch norms, whose running averages must be restored.
. "$(dirname "$0")/preamble.sh"
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

SMALL="-D seq_len=2 -D embed_dim=4 -D pool_type=max"
DATA="--data pathtracker:gen,n=90,frames=4,dist=1 $DEVICE"
KILL_AT=9

train_lines() { grep -c '"event":"train"' "$1/metrics.jsonl" 2>/dev/null || true; }

attempt() {  # steps: 0 = compared, 1 = could not kill in time, 2 = error
    steps=$1
    flags="$MODEL $DATA --batch 4 --steps $steps --save-every 4 --lr 3e-3 --warmup 3 --quiet"
    rm -rf "$tmp/a" "$tmp/b"
    $CSSMC train $flags --out "$tmp/a" >"$tmp/a.out" 2>&1 || { cat "$tmp/a.out"; return 2; }
    $CSSMC train $flags --out "$tmp/b" >"$tmp/b.out" 2>&1 &
    pid=$!
    n=0
    while [ "${n:-0}" -lt $KILL_AT ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.01
        n=$(train_lines "$tmp/b")
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    grep -q '"message":"finished' "$tmp/b/metrics.jsonl" && return 1
    printf '{"event":"train","time":17' >>"$tmp/b/metrics.jsonl"
    printf 'half a checkpoint' >"$tmp/b/last.safetensors.tmp.99999.0"
    $CSSMC train --resume "$tmp/b" --quiet >"$tmp/b.out" 2>&1 || { cat "$tmp/b.out"; return 2; }
    return 0
}

# resume_case NAME -D...: runs the comparison for one model; 0 when it holds.
resume_case() {
    name=$1; shift
    MODEL="models/simple.cssm $SMALL $*"
    steps=40
    for try in 1 2 3 4; do
        attempt $steps
        rc=$?
        [ $rc -eq 1 ] || break
        steps=$((steps * 4))
    done
    [ $rc -eq 1 ] && { echo "FAIL: $name: the run always finished before it could be killed"; return 1; }
    [ $rc -eq 0 ] || { echo "FAIL: $name: a training command failed"; return 1; }
    fail=0
    for f in last.safetensors best.safetensors; do
        cmp -s "$tmp/a/$f" "$tmp/b/$f" || { echo "FAIL: $name: $f differs between the uninterrupted and the resumed run"; fail=1; }
    done
    ls "$tmp/b" | grep -q '\.tmp\.' && { echo "FAIL: $name: temporary checkpoints left in the run directory"; fail=1; }
    grep -q "resumed" "$tmp/b/train.log" || { echo "FAIL: $name: train.log does not record the resume"; fail=1; }
    bad=$(grep -vc '^{.*}$' "$tmp/b/metrics.jsonl")
    [ "$bad" -eq 0 ] || { echo "FAIL: $name: metrics.jsonl has $bad torn lines"; fail=1; }
    [ "$(tail -c 1 "$tmp/b/metrics.jsonl" | od -An -c | tr -d ' ')" = '\n' ] ||
        { echo "FAIL: $name: metrics.jsonl does not end with a newline"; fail=1; }
    [ $fail -eq 0 ] && echo "$name: resume after kill -9 at step >= $KILL_AT of $steps: identical checkpoints"
    return $fail
}

status=0
resume_case no_gate -D cssm=no_gate -D stem_mode=pathtracker || status=1
resume_case "spatial_attn with drop-path and batch norms" -D cssm=spatial_attn -D drop_path_rate=0.3 -D num_heads=2 \
    -D stem_layers=2 -D norm_type=batch || status=1
exit $status
