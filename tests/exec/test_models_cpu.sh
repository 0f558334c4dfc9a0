#!/bin/sh
# test_models_cpu.sh: every model of the zoo on the cpu device against the reference executor,
# and its kernel counts.
#
# For each registry key in tests/exec/kernel_counts (at tests/exec/small_sizes.sh's sizes: T=3,
# 8x8 images, C=8):
#   - `cssmc gradcheck --device cpu --entries 0` of the SimpleCSSM wrapper around the block
#     (models/simple.cssm -D cssm=KEY) and of the block alone (models/zoo.cssm --block KEY): the
#     forward output and every parameter gradient of the differentiated graph, compiled C against
#     the reference in f32, max relative error below 1e-5;
#   - the launches per run (kernels, FFTs and fallbacks; `-dL`'s last line) of the forward graph
#     and of the differentiated one, for the wrapper and for the block, must equal the recorded
#     ones, so a fusion regression (or improvement) fails until the table is updated.
# Every models/KEY.cssm but the wrapper, the library and the zoo index must have a line.
# UPDATE=1 rewrites the counts from the current compiler. Keys run two at a time.
set -u
cd "$CSSM_ROOT"
table=tests/exec/kernel_counts
. tests/exec/small_sizes.sh

launches() {  # cssmc command and arguments: prints the launch count of its -dL dump
    "$CSSMC" "$@" -dL 2>/dev/null | sed -n 's/^## kernels: \([0-9]*\) .*/\1/p'
}

check_key() {  # key expected-counts(4) flags...
    key=$1 want="$2 $3 $4 $5"; shift 5
    wrap="models/simple.cssm -D cssm=$key $* $small" alone="models/zoo.cssm --block $key $* $block_small"
    got="$(launches params $wrap) $(launches check $wrap) $(launches params $alone) $(launches check $alone)"
    if [ -n "${UPDATE:-}" ]; then echo "$key $got${*:+ $*}"; return 0; fi
    status=0
    if [ "$got" != "$want" ]; then
        printf 'FAIL  %-24s launches (wrapper fwd, fwd+bwd; block fwd, fwd+bwd) %s, recorded %s\n' "$key" "$got" "$want"
        status=1
    fi
    for what in wrapper block; do
        args=$wrap; [ $what = block ] && args=$alone
        if out=$("$CSSMC" gradcheck $args --entries 0 --device cpu 2>&1); then
            printf 'ok    %-24s %-7s %s\n' "$key" "$what" "$(echo "$out" | tail -n 1)"
        else
            printf 'FAIL  %-24s %-7s\n%s\n' "$key" "$what" "$out"; status=1
        fi
    done
    return $status
}

if [ "${1:-}" = one ]; then
    shift
    check_key "$@"
    exit $?
fi

fail=0
for f in models/*.cssm; do
    key=$(basename "$f" .cssm)
    case $key in simple|std|zoo) continue ;; esac
    grep -q "^$key " "$table" || { echo "FAIL  models/$key.cssm has no line in $table (run UPDATE=1 $0)"; fail=1; }
done
# one key per line, no trailing blanks (xargs -L would join such a line with the next)
grep -v '^#' "$table" | sed 's/[[:space:]]*$//' | grep . > "${TMPDIR:-/tmp}/cssm-kernel-counts.$$"
if [ -n "${UPDATE:-}" ]; then
    { grep '^#' "$table"
      xargs -L 1 -P 2 "$0" one < "${TMPDIR:-/tmp}/cssm-kernel-counts.$$" | sort; } > "$table.new"
    mv "$table.new" "$table"
    echo "updated $table"
else
    xargs -L 1 -P 2 "$0" one < "${TMPDIR:-/tmp}/cssm-kernel-counts.$$" || fail=1
fi
rm -f "${TMPDIR:-/tmp}/cssm-kernel-counts.$$"
exit $fail
