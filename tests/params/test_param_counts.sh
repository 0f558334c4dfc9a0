#!/bin/sh
# Parameter counts of the zoo against spec/models.md §6.2: every row of the PathTracker table
# (32×32 input, pathtracker stem, depth 1, 2 classes, k = 11, LayerNorm) at C = 32 and C = 64,
# and the README Pathfinder configurations. The counts follow from the parameter shapes, so a
# wrong shape, a missing gate or an extra bias in any model changes them.
set -u
cd "$CSSM_ROOT"
fail=0
expect() {  # count, description, cssmc params arguments...
    want=$1 desc=$2; shift 2
    got=$("$CSSMC" params models/simple.cssm "$@" 2>&1 | sed -n 's/^parameters: //p')
    if [ "$got" = "$want" ]; then printf 'ok    %-40s %s\n' "$desc" "$want"
    else printf 'FAIL  %-40s expected %s, got %s\n' "$desc" "$want" "${got:-an error}"; fail=1; fi
}
pt="-D image_size=32 -D seq_len=8 -D stem_mode=pathtracker -D kernel_size=11"
row() {  # key, count at C=32, count at C=64, extra flags...
    key=$1 c32=$2 c64=$3; shift 3
    expect "$c32" "$key $* C=32" -D cssm="$key" $pt -D embed_dim=32 "$@"
    expect "$c64" "$key $* C=64" -D cssm="$key" $pt -D embed_dim=64 "$@"
}
row no_gate 5314 12674
row gated 12757 31509 -D gate_type=factored
row gated 61762 128034 -D gate_type=dense
row gdn 14604 39220 -D gate_type=factored -D delta_key_dim=4
row gdn 15572 41156 -D gate_type=factored -D delta_key_dim=2
row gdn_d2 15572 41156 -D gate_type=factored
row gdn 111602 230306 -D gate_type=dense -D delta_key_dim=2
# cross_freq_re/_im (§3.3 step 13): two 1-D convs, kernel (s,1,1) + bias (1,) each, 2(s + 1):
# s = 3 adds 8 to gdn dense d=2 (111,602 -> 111,610; 230,306 -> 230,314), s = 5 adds 12 to
# factored d=4 (14,604 -> 14,616; 39,220 -> 39,232)
row gdn 111610 230314 -D gate_type=dense -D delta_key_dim=2 -D cross_freq_conv_size=3
row gdn 14616 39232 -D gate_type=factored -D delta_key_dim=4 -D cross_freq_conv_size=5
# gdn_int* (§3.3 InT attention; not in §6.2's table), over gdn at the same settings:
#   all: attn_gamma 1;
#   spectral, elementwise: attn_collapse Dense C -> 1, C + 1; spectral: attn_kernel 1·7·7 = 49;
#   qk: attn_q, attn_k Dense C -> 16, 2(16C + 16).
# dense d=2, C=32 (gdn 111,602): spectral + 33 + 1 + 49 = 111,685; elementwise + 34 = 111,636;
#   qk + 1,056 + 1 = 112,659. C=64 (gdn 230,306): + 65 + 1 + 49 = 230,421; + 66 = 230,372;
#   + 2,080 + 1 = 232,387.
# factored d=4, C=32 (gdn 14,604): 14,687; 14,638; 15,661. C=64 (39,220): 39,335; 39,286; 41,301.
row gdn_int 111685 230421 -D gate_type=dense -D delta_key_dim=2
row gdn_int_elem 111636 230372 -D gate_type=dense -D delta_key_dim=2
row gdn_int_qk 112659 232387 -D gate_type=dense -D delta_key_dim=2
row gdn_int 14687 39335 -D gate_type=factored -D delta_key_dim=4
row gdn_int_elem 14638 39286 -D gate_type=factored -D delta_key_dim=4
row gdn_int_qk 15661 41301 -D gate_type=factored -D delta_key_dim=4
row no_fft 10434 26818 -D gate_type=factored
row no_fft 105474 214018 -D gate_type=dense
row hgru_bi 247778 500770
row transformer 190050 386946
row kqv 190050 386946
row spatial_attn 45922 116418
row spatiotemporal_attn 50242 133250
row mamba2_seq 13378 47202
row gdn_seq 7234 26754
row conv_ssm 7490 21122
row s4nd 5890 13570
row s4nd_full 5954 13634
row convs5 126434 254882
row no_gate_realspace_seq 5314 12674
row no_gate_realspace_par 5314 12674
# direct_conv_* (§3.15, not in §6.2's table): depthwise conv C·k² + C, a_logit C, out_proj C² + C;
# C=32: 3,872 + 32 + 32 + 1,024 + 32 = 4,992, + 386 = 5,378;
# C=64: 7,744 + 64 + 64 + 4,096 + 64 = 12,032, + 770 = 12,802
row direct_conv_parallel 5378 12802
row direct_conv_seq 5378 12802
row direct_conv_assoc 5378 12802
# README Pathfinder configs: 128 px, one default stem layer -> 64×64, C = 64
pf="-D image_size=128 -D stem_layers=1 -D embed_dim=64 -D pos_embed=mrope -D norm_type=global_layer -D pool_type=max"
expect 56980 "README PF-14 GDN" -D cssm=gdn $pf -D seq_len=8 -D kernel_size=11 -D qkv_conv_size=5 \
    -D delta_key_dim=4 -D gate_type=factored
expect 34085 "README PF-14 Mamba 1x1" -D cssm=gated $pf -D seq_len=1 -D kernel_size=1 \
    -D short_conv_spatial_size=0 -D gate_type=factored
expect 14210 "README PF sCSSM at k=11" -D cssm=no_gate -D image_size=128 -D stem_layers=1 -D embed_dim=64 \
    -D kernel_size=11
# gdn_d3 needs C divisible by 3: a clear error at C = 32, a model at C = 48
if "$CSSMC" params models/simple.cssm -D cssm=gdn_d3 $pt -D embed_dim=32 >/dev/null 2>&1; then
    echo "FAIL  gdn_d3 at C=32 should be refused"; fail=1
else echo "ok    gdn_d3 at C=32 is refused"; fi
expect 26116 "gdn_d3 C=48 (nh = 16, factored)" -D cssm=gdn_d3 $pt -D embed_dim=48 -D gate_type=factored
# the reference pads an even cross-freq conv to W_f + 1 bins and fails to reshape: refused here
if "$CSSMC" params models/simple.cssm -D cssm=gdn $pt -D cross_freq_conv_size=4 >/dev/null 2>&1; then
    echo "FAIL  gdn cross_freq_conv_size=4 should be refused"; fail=1
else echo "ok    gdn cross_freq_conv_size=4 is refused"; fi
exit $fail
