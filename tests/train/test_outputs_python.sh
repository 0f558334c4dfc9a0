#!/bin/sh
# test_outputs_python.sh: a run directory's files are what other tools read.
#
# An independent JSON parser (Python's, with NaN/Infinity rejected) must
# accept config.json and every line of metrics.jsonl, and the records must
# carry the documented fields. Skips (77) when python3 is missing.
set -eu
cd "${CSSM_ROOT:-.}"
bin=build/tests/unit/test_metrics
[ -x "$bin" ] || { echo "$bin is not built (run make)"; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "python3 not found"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hash=$("$bin" --write-sample "$tmp/run")

python3 - "$tmp/run" "$hash" <<'PY'
import json, re, sys

run, digest = sys.argv[1], sys.argv[2]
def strict(text):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=reject)

assert re.fullmatch(r"[0-9a-f]{16}", digest), digest
config = strict(open(f"{run}/config.json", encoding="utf-8").read())
assert config == {"model": "scssm", "lr": 0.001, "epochs": 2, "note": "tab\there \u00e9"}, config

lines = open(f"{run}/metrics.jsonl", encoding="utf-8").read().split("\n")
assert lines[-1] == "", "metrics.jsonl must end with a newline"
records = [strict(line) for line in lines[:-1]]
assert [r["event"] for r in records] == ["train"] * 5 + ["eval", "note"], records
train = records[:5]
assert [r["step"] for r in train] == [1, 2, 3, 4, 5]
for r in train:
    for key in ("time", "epoch", "total_steps", "loss", "acc", "lr", "grad_norm", "skipped",
                "samples", "step_seconds", "samples_per_s"):
        assert key in r, (key, r)
assert train[2]["loss"] is None and train[2]["skipped"] is True
assert records[5]["split"] == "val" and records[5]["acc"] == 0.875 and records[5]["is_best"] is True
assert records[6]["message"] == "early stopping after 2 epochs"

log = open(f"{run}/train.log", encoding="utf-8").read().splitlines()
assert len(log) == 6 and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  ", l) for l in log), log
print("run directory outputs: ok")
PY
