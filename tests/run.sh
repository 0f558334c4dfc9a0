#!/bin/sh
# tests/run.sh [KIND...]: the one test runner.
#
# Runs, for each test folder (or only the KINDs named):
#   - the unit test binaries built from tests/unit/*.c (kind "unit"),
#   - every executable tests/KIND/test_*.sh and tests/KIND/run.sh.
# A test passes with exit 0, is skipped with exit 77 (and says why), fails
# otherwise. The summary counts each; the exit status is 1 if anything failed.
# Tests run from the repository root with CSSMC pointing at the built binary.
set -u
cd "$(dirname "$0")/.."
export CSSMC="$PWD/build/cssmc" CSSM_ROOT="$PWD" LC_ALL=C
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$PWD/build/cache}"
pass=0 fail=0 skip=0 failed=""
log_dir=build/test-logs
mkdir -p "$log_dir"

run_one() {  # name command...
    name=$1; shift
    log="$log_dir/$(echo "$name" | tr '/' '_').log"
    "$@" >"$log" 2>&1
    rc=$?
    case $rc in
        0)  pass=$((pass + 1)); printf 'PASS  %s\n' "$name" ;;
        77) skip=$((skip + 1)); printf 'SKIP  %s: %s\n' "$name" "$(tail -n 1 "$log")" ;;
        *)  fail=$((fail + 1)); failed="$failed $name"
            printf 'FAIL  %s (exit %d)\n' "$name" "$rc"; tail -n 25 "$log" | sed 's/^/      /' ;;
    esac
}

KINDS="$*"

for dir in tests/*/; do
    kind=$(basename "$dir")
    if [ -n "$KINDS" ]; then case " $KINDS " in *" $kind "*) ;; *) continue ;; esac; fi
    if [ "$kind" = unit ]; then
        for t in build/tests/unit/*; do
            [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
        done
    fi
    for t in "$dir"run.sh "$dir"test_*.sh; do
        [ -x "$t" ] && run_one "$kind/$(basename "$t" .sh)" "$t"
    done
done

printf '\n%d passed, %d skipped, %d failed\n' "$pass" "$skip" "$fail"
[ $fail -eq 0 ] || { printf 'failed:%s\n(logs in %s)\n' "$failed" "$log_dir"; exit 1; }
