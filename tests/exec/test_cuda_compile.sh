#!/bin/sh
# test_cuda_compile.sh: every generated CUDA kernel of every model compiles with NVRTC for sm_80
# and sm_90 (NVRTC needs no GPU or driver): `cssmc compile` of the SimpleCSSM wrapper around each
# key of tests/exec/kernel_counts, forward graph and differentiated graph, and the fused AdamW
# update (`--optimizer`, one kernel), at the sizes of tests/exec/small_sizes.sh; a kernel that fails to compile fails the test with NVRTC's log. The cubins
# land in the kernel cache, where the cuda device finds them. Exits 77 without libnvrtc.
set -u
cd "$CSSM_ROOT"
table=tests/exec/kernel_counts
. tests/exec/small_sizes.sh

if [ "${1:-}" = one ]; then   # one key counts(4) flags...
    key=$2; shift 6
    status=0
    for grad in "" --grad; do
        if out=$("$CSSMC" compile models/simple.cssm -D cssm="$key" "$@" $small --arch sm_80,sm_90 $grad 2>&1); then
            printf 'ok    %-24s %-6s %s\n' "$key" "${grad:-fwd}" "$(echo "$out" | tail -n 1)"
        else
            printf 'FAIL  %-24s %s\n%s\n' "$key" "${grad:-fwd}" "$out"; status=1
        fi
    done
    exit $status
fi

probe=$("$CSSMC" compile models/simple.cssm -D cssm=no_gate $small --arch sm_80 2>&1)
case $probe in
    *"nvrtc: "*"not found"*) echo "$probe"; echo "no NVRTC here: CUDA kernels not compiled"; exit 77 ;;
esac
status=0
grep -v '^#' "$table" | sed 's/[[:space:]]*$//' | grep . | xargs -L 1 -P 2 "$0" one || status=1
# The optimizer update cssmc train runs after every step: one kernel.
if out=$("$CSSMC" compile models/simple.cssm -D cssm=no_gate $small --optimizer --arch sm_80,sm_90 2>&1) &&
   echo "$out" | grep -q '^compiled 1 CUDA kernels'; then
    printf 'ok    %-24s %-6s %s\n' optimizer adamw "$(echo "$out" | tail -n 1)"
else
    printf 'FAIL  optimizer (expected one kernel)\n%s\n' "$out"; status=1
fi
exit $status
