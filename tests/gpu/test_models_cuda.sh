#!/bin/sh
# test_models_cuda.sh: every model of the zoo on the cuda device against the reference executor.
# For each key of tests/exec/kernel_counts, at the sizes of tests/exec/small_sizes.sh:
# `cssmc gradcheck --device cuda --entries 0` of the SimpleCSSM wrapper around the block and of
# the block alone compares the forward output and every parameter gradient (CUDA kernels and
# cuFFT in f32) with the reference (f32), max relative error below 1e-5, and checks that a
# second run compiles, plans and allocates nothing. Exits 77, with the reason, when no GPU is
# usable here; it never passes without running.
set -u
cd "$CSSM_ROOT"
table=tests/exec/kernel_counts
. tests/exec/small_sizes.sh

probe=$("$CSSMC" gradcheck models/simple.cssm -D cssm=no_gate $small --entries 0 --device cuda 2>&1)
case $probe in
    *"error: cuda: "*"not found"*|*"error: cuda: the driver sees no CUDA device"*|*"error: cuda: cuInit"*)
        echo "$probe" | tail -n 1; echo "no usable GPU: $(echo "$probe" | sed -n 's/.*error: //p' | head -n 1)"; exit 77 ;;
esac

fail=0
for line in $(grep -v '^#' "$table" | sed 's/[[:space:]]*$//; s/ /:/g' | grep .); do
    line=$(echo "$line" | tr ':' ' ')
    set -- $line
    key=$1; shift 5
    for what in wrapper block; do
        if [ $what = wrapper ]; then args="models/simple.cssm -D cssm=$key $* $small"
        else args="models/zoo.cssm --block $key $* $block_small"; fi
        if out=$("$CSSMC" gradcheck $args --entries 0 --device cuda 2>&1); then
            printf 'ok    %-24s %-7s %s\n' "$key" "$what" "$(echo "$out" | tail -n 1)"
        else
            printf 'FAIL  %-24s %-7s\n%s\n' "$key" "$what" "$out"; fail=1
        fi
    done
done
exit $fail
