# preamble.sh: what the training tests share, sourced first. They run from
# the repository root with $CSSMC built, in a fresh folder $tmp removed on
# exit, on $DEVICE: the reference executor by default, which for models this
# small needs no kernel compilation and takes milliseconds a step;
# TRAIN_TEST_DEVICE=cpu (or cuda) runs the same checks on a fused device.
set -u
cd "${CSSM_ROOT:-.}"
CSSMC=${CSSMC:-build/cssmc}
[ -x "$CSSMC" ] || { echo "$CSSMC is not built (run make)"; exit 1; }
DEVICE="--device ${TRAIN_TEST_DEVICE:-ref}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
