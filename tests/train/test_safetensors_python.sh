#!/bin/sh
# test_safetensors_python.sh: checkpoints interoperate with Python's safetensors.
#
# Python reads a file the C writer made (names, dtypes, shapes, values,
# metadata), Python's own writer makes a byte-identical file from the same
# tensors, a whole checkpoint has the documented layout (opt.m.* / opt.v.*
# beside each parameter, decimal metadata), and the C reader accepts a file
# Python wrote with mixed dtypes and several metadata keys.
# Skips (77) when python3 or its safetensors/numpy packages are missing.
set -eu
cd "${CSSM_ROOT:-.}"
bin=build/tests/unit/test_checkpoint
[ -x "$bin" ] || { echo "$bin is not built (run make)"; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "python3 not found"; exit 77; }
python3 -c 'import numpy, safetensors.numpy' 2>/dev/null ||
    { echo "Python packages safetensors and numpy not importable"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" --write-sample "$tmp/c.safetensors"
"$bin" --write-checkpoint "$tmp/ckpt.safetensors"

python3 - "$tmp" <<'PY'
import sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

tmp = sys.argv[1]
expected = {
    "layer.w": (np.arange(6, dtype=np.float32) / 2 - 1).reshape(2, 3),
    "layer.b": np.array([0, -1, -2], dtype=np.float32),
    "scale": np.array(2.5, dtype=np.float32),
}
with safe_open(f"{tmp}/c.safetensors", framework="np") as f:
    assert f.metadata() == {"source": "cssmc"}, f.metadata()
    assert sorted(f.keys()) == sorted(expected), list(f.keys())
    for name, want in expected.items():
        got = f.get_tensor(name)
        assert got.dtype == np.float32 and got.shape == want.shape, (name, got.dtype, got.shape)
        assert np.array_equal(got, want), (name, got, want)

save_file(expected, f"{tmp}/py_same.safetensors", metadata={"source": "cssmc"})
ours = open(f"{tmp}/c.safetensors", "rb").read()
theirs = open(f"{tmp}/py_same.safetensors", "rb").read()
assert ours == theirs, f"bytes differ:\n C: {ours[:200]!r}\n Py: {theirs[:200]!r}"

with safe_open(f"{tmp}/ckpt.safetensors", framework="np") as f:
    meta = f.metadata()
    assert meta["format"] == "cssmc-checkpoint" and meta["format_version"] == "1", meta
    for key in ("step", "epoch", "batch", "rng_key", "rng_counter", "epochs_since_best",
                "opt.count", "opt.notfinite_count", "opt.total_notfinite"):
        assert meta[key].isdigit(), (key, meta[key])
    assert int(meta["rng_key"]) == 18446744073709551557
    assert float(meta["best_val_acc"]) == 0.8125 and float(meta["best_val_loss"]) == 0.1 + 0.2
    assert meta["opt.last_finite"] in ("true", "false") and meta["opt.count"] == "1"
    params = {n for n in f.keys() if not n.startswith("opt.")}
    assert params == {"block.w", "block.b"}, params
    for p in params:
        shape = f.get_tensor(p).shape
        for kind in ("m", "v"):
            moment = f.get_tensor(f"opt.{kind}.{p}")
            assert moment.shape == shape and moment.dtype == np.float32
            assert np.all(np.isfinite(moment)) and np.any(moment != 0), (kind, p, moment)

save_file({"z": np.full(3, 0.5, np.float32), "n": np.array([7, -7], np.int64),
           "a": np.arange(4, dtype=np.float32).reshape(2, 2)},
          f"{tmp}/py.safetensors", metadata={"gamma": "3", "alpha": "1", "beta": "two"})
print("python side: ok")
PY

"$bin" --check-python "$tmp/py.safetensors"
echo "safetensors interop with Python: ok"
