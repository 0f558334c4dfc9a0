#!/bin/sh
# bench.sh: `make bench`. First the time of one training step (forward, loss, backward, gradients
# read back) of the sCSSM PathTracker configuration at batch 8 on the cpu device, as a ratio to the
# reference executor measured in the same process, interleaved (cssmc bench; spec/performance.md
# §4). Then what feeds that step (cssmc data bench): generator throughput in samples/s per core
# (PathTracker at this configuration, Pathfinder at LRA 32 px and 300 px) and loader throughput in
# each PathTracker format, each against the step's consumption rate, batch / the cpu device's median
# step (the first device's, if cpu is not among BENCH_DEVICES). BENCH_DEVICES (default cpu,ref; the
# last one is the baseline), BENCH_STEPS, BENCH_WARMUP and BENCH_SECONDS (per data measurement,
# default 2) override the defaults; CSSMC names the binary (default build/cssmc, relative to the
# repository root); extra arguments go to cssmc bench.
set -eu
cd "$(dirname "$0")/.."
cssmc=${CSSMC:-build/cssmc}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"$cssmc" bench models/simple.cssm -D cssm=no_gate -D embed_dim=32 -D kernel_size=11 -D image_size=32 \
    -D seq_len=32 -D stem_mode=pathtracker --batch 8 --devices "${BENCH_DEVICES:-cpu,ref}" \
    --steps "${BENCH_STEPS:-5}" --warmup "${BENCH_WARMUP:-1}" "$@" >"$log" || status=$?
cat "$log"
[ "$status" -eq 0 ] || exit "$status"

# compiler/bench.c prints "bench MODEL: training step (...), batch N, ..." and, per device,
# "device cpu  median     297.12 ms  p10 ...".
batch=$(sed -n 's/^bench .*, batch \([0-9][0-9]*\),.*/\1/p' "$log")
step_ms=$(awk '$1 == "device" && $3 == "median" && $5 == "ms" { if (ms == "" || $2 == "cpu") ms = $4 }
               END { print ms }' "$log")
if [ -z "$batch" ] || [ -z "$step_ms" ]; then
    echo "bench.sh: cannot find the batch and a device's median step in cssmc bench's output" >&2
    exit 1
fi
echo
exec "$cssmc" data bench --batch "$batch" --step-ms "$step_ms" --seconds "${BENCH_SECONDS:-2}"
