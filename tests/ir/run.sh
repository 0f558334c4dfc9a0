#!/bin/sh
# Golden IR dumps: `cssmc -dSAO FILE` (after shapes, autodiff and simplify) must
# equal FILE's .ir beside it, byte for byte. UPDATE=1 rewrites the .ir files.
set -u
cd "$CSSM_ROOT/tests/ir"
fail=0
for f in *.cssm; do
    want="${f%.cssm}.ir"
    out=$("$CSSMC" -dSAO "$f" 2>&1)
    if [ "${UPDATE:-0}" = 1 ]; then printf '%s\n' "$out" > "$want"; continue; fi
    if ! printf '%s\n' "$out" | diff -u "$want" - > /dev/null 2>&1; then
        echo "FAIL $f: IR differs from $want:"; printf '%s\n' "$out" | diff -u "$want" - | head -40; fail=1
    fi
done
exit $fail
