#!/bin/sh
# Every file here is a .cssm mistake; its lines `#@ LINE:COL: error: MESSAGE`
# list exactly the errors `cssmc check` must report (file prefix removed), and
# the check must exit 1. Syntax mistakes (syntax_*) and semantic ones (sem_*)
# go through the whole compiler the same way.
set -u
cd "$CSSM_ROOT/tests/errors"
fail=0
for f in *.cssm; do
    want=$(sed -n 's/^#@ //p' "$f" | sort)
    out=$("$CSSMC" check "$f" 2>&1)
    rc=$?
    got=$(printf '%s\n' "$out" | sed -n "s|^$f:\([0-9]*:[0-9]*: error: .*\)|\1|p" | sort)
    if [ "$rc" -ne 1 ] || [ "$want" != "$got" ]; then
        printf 'FAIL %s (exit %d)\n--- expected\n%s\n--- got\n%s\n' "$f" "$rc" "$want" "$out"
        fail=1
    fi
done
[ $fail -eq 0 ] && echo "all $(ls *.cssm | wc -l) error files report exactly their expected errors"
exit $fail
