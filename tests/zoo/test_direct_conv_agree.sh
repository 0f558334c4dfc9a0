#!/bin/sh
# The three direct_conv_* keys are one model whose recurrence S_t = a S_{t-1} + y_t is computed
# three ways (spec/models.md §3.15): a scan, a materialised causal Toeplitz operator, JAX's
# associative-scan tree. Trained 20 steps at a high learning rate (so a = ρ·tanh(a_logit) has
# left its init 0) as direct_conv_seq, the checkpoint's logits under each key must agree to
# f32 rounding (relative 1e-5) on the reference executor. A wrong power or a missing diagonal in
# the Toeplitz operator moves them by about 1e-3.
set -u
cd "$CSSM_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data="pathtracker:gen,n=12,frames=4"
small="-D embed_dim=8 -D seq_len=4 -D image_size=32 -D stem_layers=2 -D kernel_size=3 -D frame_readout=all"
if ! log=$("$CSSMC" train models/simple.cssm -D cssm=direct_conv_seq $small --data "$data" --steps 20 --batch 4 \
           --lr 0.05 --warmup 0 --device ref --out "$tmp/run" --quiet 2>&1); then
    printf 'FAIL  cssmc train failed:\n%s\n' "$log"; exit 1
fi
floats() {  # the float32 payload of an .npy file, one number a line (header length at bytes 8-9)
    n=$(od -A n -t u1 -j 8 -N 2 "$1" | awk '{ print $1 + 256 * $2 }')
    od -A n -v -t f4 -j $((10 + n)) "$1" | tr -s ' ' '\n' | grep .
}
fail=0
for k in seq parallel assoc; do
    if ! log=$("$CSSMC" predict "$tmp/run/last.safetensors" models/simple.cssm -D cssm=direct_conv_$k $small \
               --data "$data" --split train --device ref --out "$tmp/$k.npy" 2>&1); then
        printf 'FAIL  direct_conv_%s: cssmc predict failed:\n%s\n' "$k" "$log"; exit 1
    fi
    floats "$tmp/$k.npy" > "$tmp/$k.txt"
done
for k in parallel assoc; do
    worst=$(paste "$tmp/seq.txt" "$tmp/$k.txt" | awk '
        { d = $1 - $2; if (d < 0) d = -d; m = ($1 < 0 ? -$1 : $1); if (m < 1) m = 1; if (d / m > w) w = d / m; n++ }
        END { if (n < 2) print "none"; else printf "%.3e", w }')
    if [ "$worst" = none ] || awk "BEGIN { exit !($worst > 1e-5) }"; then
        printf 'FAIL  %-22s vs direct_conv_seq: max relative difference %s\n' "direct_conv_$k" "$worst"; fail=1
    else printf 'ok    %-22s vs direct_conv_seq: max relative difference %s\n' "direct_conv_$k" "$worst"; fi
done
exit $fail
