#!/bin/sh
# test_steady_state.sh: what the fused devices promise besides equal numbers.
#   - a training step (`cssmc bench`, forward + loss + backward) on the cpu device compiles,
#     plans and allocates nothing after the first step, and so does a second run of gradcheck's
#     device check; `bench --profile` lists the costliest steps of each fused device (not ref);
#     `run --device cpu --stats` prints the runtime's counters;
#   - the generated source is a pure function of the model (the same text twice), names the
#     .cssm lines of every kernel, and `emit --c` and `emit --cuda` print C and CUDA;
#   - the device choices are checked: --device cuda without a GPU is one clear error (exit 1),
#     an unknown device a command-line error (exit 2), --f64 off the reference an error.
set -u
cd "$CSSM_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
small="models/simple.cssm -D cssm=no_gate -D seq_len=3 -D image_size=8 -D embed_dim=4 -D kernel_size=3 -D stem_layers=1"

"$CSSMC" bench $small --devices cpu,ref --steps 2 --warmup 1 --profile 4 > "$tmp/bench" 2>&1 || { cat "$tmp/bench"; fail "bench failed"; }
grep -q "^steady state: no compiles, FFT plans or allocations" "$tmp/bench" || { cat "$tmp/bench"; fail "no steady state"; }
grep -q "^ratio cpu/ref: " "$tmp/bench" || { cat "$tmp/bench"; fail "bench reports no ratio"; }
# the profile: a header per fused device, then exactly 4 rows "ms share GB/s -dL-line", costliest first
grep -q "^profile cpu: [1-9][0-9]* steps, their medians sum to " "$tmp/bench" || { cat "$tmp/bench"; fail "no cpu profile"; }
grep -q "^profile ref" "$tmp/bench" && fail "ref has no steps to profile"
rows=$(awk '/^profile cpu/ { on = 1; getline; next } on && /^ *[0-9.]+ +[0-9.]+% +[0-9.]+  (k[0-9]+_|fft|fallback)/ { print $1 }' "$tmp/bench")
[ "$(echo "$rows" | wc -l)" -eq 4 ] || { cat "$tmp/bench"; fail "the profile does not list 4 steps"; }
echo "$rows" | sort -g -r -c 2>/dev/null || { cat "$tmp/bench"; fail "the profile is not costliest first"; }
"$CSSMC" bench $small --profile 0 > "$tmp/out" 2>&1; [ $? = 2 ] || fail "bench --profile 0 should exit 2"

"$CSSMC" gradcheck $small --entries 0 --device cpu --stats > "$tmp/grad" 2>&1 || { cat "$tmp/grad"; fail "gradcheck --device cpu failed"; }
grep -q "second run compiled" "$tmp/grad" && fail "gradcheck's second device run compiled or planned"
grep -q "^kernels launched  *[1-9]" "$tmp/grad" || { cat "$tmp/grad"; fail "--stats shows no kernel launches"; }

# run: a forward pass from an .npy file (2 x 3 x 8 x 8 x 3 float32 zeros, v1 header)
header="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 8, 8, 3), }"
{ printf '\223NUMPY\001\000\166\000%s' "$header"; printf '%*s\n' $((128 - 10 - ${#header} - 1)) ''
  head -c $((2 * 3 * 8 * 8 * 3 * 4)) /dev/zero; } > "$tmp/x.npy"
"$CSSMC" run $small --input "$tmp/x.npy" --device cpu --stats > "$tmp/run" 2>&1 || { cat "$tmp/run"; fail "run --device cpu failed"; }
grep -q "^output f32\[B=2,2=2\]" "$tmp/run" && grep -q "^fft plans created  *[1-9]" "$tmp/run" || { cat "$tmp/run"; fail "run --stats"; }
"$CSSMC" run $small --input "$tmp/x.npy" --device cpu --out "$tmp/cpu.npy" 2>/dev/null &&
"$CSSMC" run $small --input "$tmp/x.npy" --device ref --out "$tmp/ref.npy" 2>/dev/null || fail "run --out failed"
cmp -s "$tmp/cpu.npy" "$tmp/ref.npy" || fail "run on cpu and on ref differ on this input"

"$CSSMC" emit --c --grad $small > "$tmp/a.c" 2>/dev/null && "$CSSMC" emit --c --grad $small > "$tmp/b.c" 2>/dev/null || fail "emit --c failed"
cmp -s "$tmp/a.c" "$tmp/b.c" || fail "emit --c is not deterministic"
grep -q "no_gate.cssm:[0-9]*:[0-9]*" "$tmp/a.c" || fail "the C source names no .cssm line"
grep -q "^void (\*const cssm_kernels" "$tmp/a.c" || fail "the C source has no kernel table"
"$CSSMC" emit --cuda $small > "$tmp/a.cu" 2>/dev/null || fail "emit --cuda failed"
grep -q 'extern "C" __global__' "$tmp/a.cu" && grep -q "no_gate.cssm:[0-9]*:[0-9]*" "$tmp/a.cu" || fail "emit --cuda"
"$CSSMC" emit $small > "$tmp/out" 2>&1; [ $? = 2 ] || fail "emit without --c or --cuda should exit 2"

"$CSSMC" run $small --input "$tmp/x.npy" --device tpu > "$tmp/out" 2>&1; [ $? = 2 ] || fail "--device tpu should exit 2"
"$CSSMC" run $small --input "$tmp/x.npy" --device cpu --f64 > "$tmp/out" 2>&1; [ $? = 1 ] || fail "--f64 on cpu should fail"
grep -q "f64" "$tmp/out" || fail "the --f64 error does not say why"
if ! "$CSSMC" run $small --input "$tmp/x.npy" --device cuda > "$tmp/out" 2>&1; then
    [ "$(wc -l < "$tmp/out")" -eq 1 ] && grep -q "^cssmc run: error: cuda: " "$tmp/out" ||
        { cat "$tmp/out"; fail "--device cuda without a GPU is not one clear error"; }
fi
echo "steady state ok"
