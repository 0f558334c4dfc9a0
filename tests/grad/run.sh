#!/bin/sh
# Gradient checks (f64, central differences against autodiff on the ref executor):
# every op model of ops.cssm, every block of the zoo alone, and the SimpleCSSM
# wrapper end to end around each block.
set -u
cd "$CSSM_ROOT"
fail=0
check() {  # description, gradcheck arguments...
    desc=$1; shift
    if out=$("$CSSMC" gradcheck "$@" 2>&1); then
        printf 'ok    %-28s %s\n' "$desc" "$(echo "$out" | tail -n 1)"
    else
        printf 'FAIL  %-28s\n%s\n' "$desc" "$out"; fail=1
    fi
}
for m in $(sed -n 's/^model \([a-z_0-9]*\).*/\1/p' tests/grad/ops.cssm); do
    check "$m" tests/grad/ops.cssm --model "$m"
done
small="-D seq_len=3 -D image_size=6 -D embed_dim=8 -D kernel_size=3"
# spatial_attn's layer scale (1e-6) hides its branches' gradients under f64 rounding
# of the loss: check them at a scale where central differences can see them.
attn="-D layer_scale_init=0.5"
for b in no_gate gated hgru_bi; do
    check "block $b" models/zoo.cssm --block "$b" $small
done
for b in spatial_attn spatiotemporal_attn; do
    check "block $b" models/zoo.cssm --block "$b" $small $attn
done
check "block gated factored" models/zoo.cssm --block gated $small -D gate_type=factored -D gate_activation=exp
check "block gated rope" models/zoo.cssm --block gated $small -D rope_mode=mrope
for c in no_gate gated hgru_bi; do
    check "simple cssm=$c" models/simple.cssm -D cssm=$c -D seq_len=3 -D image_size=8 -D embed_dim=8 \
        -D kernel_size=3 -D stem_layers=1 --entries 8
done
check "simple cssm=spatial_attn" models/simple.cssm -D cssm=spatial_attn -D seq_len=3 -D image_size=8 \
    -D embed_dim=8 -D stem_layers=1 --entries 8 $attn
check "simple pathtracker stem" models/simple.cssm -D cssm=no_gate -D seq_len=3 -D image_size=6 \
    -D embed_dim=4 -D kernel_size=3 -D stem_mode=pathtracker -D frame_readout=all -D pool_type=max
check "simple depth 2, sinusoidal" models/simple.cssm -D cssm=no_gate -D seq_len=2 -D image_size=4 \
    -D embed_dim=4 -D kernel_size=3 -D stem_layers=1 -D depth=2 -D pos_embed=sinusoidal \
    -D norm_type=global_layer -D inter_mlp_ratio=1.0 -D act_type=gelu
exit $fail
