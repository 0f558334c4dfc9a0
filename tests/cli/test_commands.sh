#!/bin/sh
# The command line: --help on every command, exit statuses (0 ok, 1 model
# errors, 2 bad command line), `run` on a real .npy input, and the summary's
# parameter line.
set -u
cd "$CSSM_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for c in $("$CSSMC" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
    "$CSSMC" "$c" --help > "$tmp/help" 2>&1 || fail "cssmc $c --help exits $?"
    grep -q "usage" "$tmp/help" || fail "cssmc $c --help prints no usage"
done

expect_exit() {  # status, command...
    want=$1; shift
    "$@" > "$tmp/out" 2>&1
    got=$?
    [ "$got" = "$want" ] || { cat "$tmp/out"; fail "'$*' exits $got, expected $want"; }
}
expect_exit 2 "$CSSMC" frobnicate
expect_exit 2 "$CSSMC" check
expect_exit 2 "$CSSMC" check models/simple.cssm --bogus
expect_exit 2 "$CSSMC" check models/simple.cssm -D no_such_hyperparameter=3
grep -q "no hyperparameter named no_such_hyperparameter" "$tmp/out" || fail "unknown -D name not named"
expect_exit 2 "$CSSMC" check models/simple.cssm -D embed_dim
expect_exit 2 "$CSSMC" models/simple.cssm --batch 0
expect_exit 1 "$CSSMC" check tests/errors/sem_unknown_name.cssm
expect_exit 1 "$CSSMC" check no/such/file.cssm
grep -q "no/such/file.cssm" "$tmp/out" || fail "a missing model file is not named"
expect_exit 0 "$CSSMC" check models/simple.cssm -D cssm=no_gate

"$CSSMC" models/simple.cssm -D cssm=no_gate -D embed_dim=32 -D kernel_size=11 -D image_size=32 \
    -D seq_len=32 -D stem_mode=pathtracker -D num_classes=2 | grep -qx "parameters: 5314" ||
    fail "the sCSSM PathTracker config does not print 'parameters: 5314'"

# run: a forward pass on an input file (an .npy written here byte by byte: v1
# header padded to 128 bytes, then 1536 float32 values cycling 1, -0.5, 0.25, 2)
header="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4, 8, 8, 3), }"
{
    printf '\223NUMPY\001\000\166\000%s' "$header"
    printf '%*s\n' $((128 - 10 - ${#header} - 1)) ''
    i=0
    while [ $i -lt 384 ]; do printf '\000\000\200\077\000\000\000\277\000\000\200\076\000\000\000\100'; i=$((i + 1)); done
} > "$tmp/x.npy"
[ "$(wc -c < "$tmp/x.npy")" -eq $((128 + 1536 * 4)) ] || fail "test input has the wrong size"
args="models/simple.cssm -D cssm=no_gate -D seq_len=4 -D image_size=8 -D embed_dim=4 -D kernel_size=3"
"$CSSMC" run $args --input "$tmp/x.npy" --out "$tmp/y1.npy" --seed 3 || fail "run failed"
"$CSSMC" run $args --input "$tmp/x.npy" --out "$tmp/y2.npy" --seed 3 || fail "run failed"
cmp -s "$tmp/y1.npy" "$tmp/y2.npy" || fail "run is not deterministic for a seed"
"$CSSMC" run $args --input "$tmp/x.npy" --out "$tmp/y3.npy" --seed 4 || fail "run failed"
cmp -s "$tmp/y1.npy" "$tmp/y3.npy" && fail "run gives the same output for different seeds"
head -c 128 "$tmp/y1.npy" | grep -q "'shape': (2, 2)" || fail "run output does not have shape (2, 2)"
"$CSSMC" run $args --input "$tmp/x.npy" > "$tmp/summary" || fail "run without --out failed"
grep -q "^output f32\[B=2,2=2\]: mean" "$tmp/summary" || fail "run summary missing"
grep -qi "nan\|inf" "$tmp/summary" && fail "run output is not finite"
expect_exit 1 "$CSSMC" run models/simple.cssm -D cssm=no_gate -D seq_len=5 --input "$tmp/x.npy"
grep -q "does not match the model input" "$tmp/out" || fail "a wrong input shape is not explained"
# --training: drop-path masks drawn from the seed (the same on ref and cpu), which change the output
dp="models/simple.cssm -D cssm=spatial_attn -D seq_len=4 -D image_size=8 -D embed_dim=4 -D num_heads=2
    -D layer_scale_init=0.5 -D drop_path_rate=0.5 --input $tmp/x.npy"
"$CSSMC" run $dp --training --device ref > "$tmp/train_ref" || fail "run --training failed on ref"
"$CSSMC" run $dp --training --device cpu > "$tmp/train_cpu" || fail "run --training failed on cpu"
"$CSSMC" run $dp --device ref > "$tmp/eval_ref" || fail "run failed on the drop-path model"
cmp -s "$tmp/train_ref" "$tmp/train_cpu" || fail "run --training differs between ref and cpu"
cmp -s "$tmp/train_ref" "$tmp/eval_ref" && fail "run --training gives the evaluation output"
echo "commands ok"
