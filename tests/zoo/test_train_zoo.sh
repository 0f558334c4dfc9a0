#!/bin/sh
# Every model of the zoo trains 20 steps inside SimpleCSSM on a small generated PathTracker set
# (`cssmc train --steps 20 --data pathtracker:gen,...`, on the reference executor) without a
# non-finite loss or a skipped (non-finite) update: exactly 20 step records, each with a finite
# loss and "skipped":false.
set -u
cd "$CSSM_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
data="pathtracker:gen,n=12,frames=4"
small="-D embed_dim=8 -D seq_len=4 -D image_size=32 -D stem_layers=2 -D kernel_size=3"
states="-D s4nd_d_state=8 -D convs5_state_dim=4 -D state_dim=4"
for m in no_gate gated gdn gdn_d2 gdn_int gdn_int_elem gdn_int_qk hgru_bi transformer kqv spatial_attn \
         spatiotemporal_attn mamba2_seq gdn_seq conv_ssm s4nd s4nd_full convs5 no_fft no_gate_realspace_seq \
         no_gate_realspace_par direct_conv_parallel direct_conv_seq direct_conv_assoc; do
    out="$tmp/$m"
    if ! log=$("$CSSMC" train models/simple.cssm -D cssm=$m $small $states --data "$data" --steps 20 --batch 4 \
               --device ref --out "$out" --quiet 2>&1); then
        printf 'FAIL  %-24s cssmc train failed:\n%s\n' "$m" "$log"; fail=1; continue
    fi
    bad=$(awk '/"event":"train"/ {
                   n++
                   if ($0 !~ /"skipped":false/ || $0 !~ /"loss":-?[0-9][0-9.eE+-]*,/) b++
               }
               END { if (n != 20) print "expected 20 steps, got " n; else if (b) print b " non-finite or skipped steps" }' \
          "$out/metrics.jsonl")
    if [ -n "$bad" ]; then printf 'FAIL  %-24s %s\n' "$m" "$bad"; fail=1
    else printf 'ok    %-24s %s\n' "$m" "$(grep -o '"loss":[^,]*' "$out/metrics.jsonl" | tail -n 1)"; fi
done
exit $fail
