#!/bin/sh
# bench.sh: `make bench`. The time of one training step (forward, loss, backward, gradients read
# back) of the sCSSM PathTracker configuration at batch 8 on the cpu device, as a ratio to the
# reference executor measured in the same process, interleaved (cssmc bench; spec/performance.md
# §4). BENCH_DEVICES (default cpu,ref; the last one is the baseline), BENCH_STEPS and
# BENCH_WARMUP override the defaults; extra arguments go to cssmc bench.
set -eu
cd "$(dirname "$0")/.."
exec build/cssmc bench models/simple.cssm -D cssm=no_gate -D embed_dim=32 -D kernel_size=11 -D image_size=32 \
    -D seq_len=32 -D stem_mode=pathtracker --batch 8 --devices "${BENCH_DEVICES:-cpu,ref}" \
    --steps "${BENCH_STEPS:-5}" --warmup "${BENCH_WARMUP:-1}" "$@"
