#!/bin/sh
# test_inspect.sh: cssmc inspect writes what a checkpoint's model computed.
#
# A tiny sCSSM trains a few steps; inspect runs its best checkpoint on
# samples 2..4 of the val split. Its logits must be predict's for those
# samples, its printed prediction their argmax; x, labels, attribution
# and the block's probe (complex64, with the batch and time axes first)
# must have their documented shapes, the attributions must be finite,
# non-negative and not all zero, and the printed RMS by step of the probe
# must be numpy's over the probe file. A range past the split's end and a
# missing --out are refused with exit status 2. Needs python3 with numpy
# (make test installs it); skips (77) without.
. "$(dirname "$0")/preamble.sh"
python3 -c "import numpy" 2>/dev/null || { echo "python3 with numpy not found"; exit 77; }
fail=0

run="$tmp/run"
$CSSMC train models/simple.cssm -D cssm=no_gate -D stem_mode=pathtracker -D seq_len=2 -D embed_dim=4 \
    --data pathtracker:gen,n=60,frames=2,dist=1 --steps 3 --batch 4 $DEVICE --out "$run" --quiet \
    >"$tmp/out" 2>&1 || { echo "FAIL: training failed:"; cat "$tmp/out"; exit 1; }
$CSSMC inspect "$run/best.safetensors" --split val --index 2 --batch 3 --out "$tmp/insp" >"$tmp/inspect" 2>&1 ||
    { echo "FAIL: inspect failed:"; cat "$tmp/inspect"; exit 1; }
$CSSMC predict "$run/best.safetensors" --split val --out "$tmp/logits.npy" >"$tmp/predict" 2>&1 ||
    { echo "FAIL: predict failed:"; cat "$tmp/predict"; exit 1; }

python3 - "$tmp/insp" "$tmp/logits.npy" "$tmp/inspect" <<'PY' || fail=1
import re, sys
import numpy as np
insp, predicted, printed = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
load = lambda name: np.load(f"{insp}/{name}.npy")
x, labels, logits, attribution = load("x"), load("labels"), load("logits"), load("attribution")
state = load("cssm_0.spectral_state")
assert x.dtype == np.float32 and x.shape == (3, 2, 32, 32, 3), x.shape
assert labels.dtype == np.int32 and labels.shape == (3,), labels.shape
assert logits.shape == (3, 2) and attribution.shape == (3, 2), (logits.shape, attribution.shape)
assert state.dtype == np.complex64 and state.shape[:2] == (3, 2), (state.dtype, state.shape)
assert np.abs(logits - np.load(predicted)[2:5]).max() <= 1e-6, "logits differ from predict's"
assert np.isfinite(attribution).all() and (attribution >= 0).all() and attribution.max() > 0, attribution
for k in range(3):
    m = re.search(rf"val sample {2 + k}: label (\d+), predicted (\d+)", printed)
    assert m and int(m.group(1)) == labels[k] and int(m.group(2)) == logits[k].argmax(), (k, printed)
m = re.search(r"probe cssm_0.spectral_state, RMS by step: (.*)", printed)
assert m, printed
want = np.sqrt((np.abs(state.astype(np.complex128)) ** 2).mean(axis=tuple(i for i in range(state.ndim) if i != 1)))
got = np.array([float(v) for v in m.group(1).split()])
assert np.allclose(got, want, rtol=1e-3), (got, want)
PY

expect_usage() {  # TEXT command...: exit 2 with TEXT on stderr
    text=$1; shift
    "$@" >"$tmp/o" 2>"$tmp/e"
    rc=$?
    [ $rc -eq 2 ] && grep -q "$text" "$tmp/e" || { echo "FAIL: '$*' gave $rc: $(cat "$tmp/e")"; fail=1; }
}
expect_usage "too few for 3 from there" $CSSMC inspect "$run/best.safetensors" --split val --index 1000 --batch 3 \
    --out "$tmp/x"
expect_usage "\-\-out DIR is required" $CSSMC inspect "$run/best.safetensors" --split val

[ $fail -eq 0 ] && echo "inspect: logits, probes over time and attributions of 3 samples written and checked"
exit $fail
