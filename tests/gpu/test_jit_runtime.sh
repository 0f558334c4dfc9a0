#!/bin/sh
# test_jit_runtime.sh: the JIT layer on the GPU (NVRTC -> module -> launch,
# device memory, cuFFT against FFTW), for `make test-gpu`. The checks live in
# tests/unit/test_gpu_jit.c, which exits 77 with the reason when no usable
# GPU is present; this passes its status through.
set -u
bin="${CSSM_ROOT:-.}/build/tests/unit/test_gpu_jit"
if [ ! -x "$bin" ]; then
    echo "test_jit_runtime: $bin is not built (run make first)" >&2
    exit 1
fi
exec "$bin"
