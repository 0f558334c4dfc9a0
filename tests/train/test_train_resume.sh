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
# longer and tried again.
set -u
cd "${CSSM_ROOT:-.}"
CSSMC=${CSSMC:-build/cssmc}
[ -x "$CSSMC" ] || { echo "$CSSMC is not built (run make)"; exit 1; }
# The reference executor by default: for models this small it needs no
# kernel compilation and its steps take milliseconds. TRAIN_TEST_DEVICE=cpu
# (or cuda) runs the same checks on a fused device.
DEVICE="--device ${TRAIN_TEST_DEVICE:-ref}"
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

MODEL="models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=2 -D embed_dim=4 -D pool_type=max"
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

steps=40
for try in 1 2 3 4; do
    attempt $steps
    rc=$?
    [ $rc -eq 1 ] || break
    steps=$((steps * 4))
done
[ $rc -eq 1 ] && { echo "FAIL: the run always finished before it could be killed"; exit 1; }
[ $rc -eq 0 ] || { echo "FAIL: a training command failed"; exit 1; }

fail=0
for f in last.safetensors best.safetensors; do
    cmp -s "$tmp/a/$f" "$tmp/b/$f" || { echo "FAIL: $f differs between the uninterrupted and the resumed run"; fail=1; }
done
ls "$tmp/b" | grep -q '\.tmp\.' && { echo "FAIL: temporary checkpoints left in the run directory"; fail=1; }
grep -q "resumed" "$tmp/b/train.log" || { echo "FAIL: train.log does not record the resume"; fail=1; }
bad=$(grep -vc '^{.*}$' "$tmp/b/metrics.jsonl")
[ "$bad" -eq 0 ] || { echo "FAIL: metrics.jsonl has $bad torn lines"; fail=1; }
[ "$(tail -c 1 "$tmp/b/metrics.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || { echo "FAIL: metrics.jsonl does not end with a newline"; fail=1; }
[ $fail -eq 0 ] && echo "resume after kill -9 at step >= $KILL_AT of $steps: identical checkpoints"
exit $fail
