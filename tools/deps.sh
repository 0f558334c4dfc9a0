#!/bin/sh
# deps.sh [--test]: installs the Debian packages cssmc needs to build and test.
# Idempotent: packages already present are not reinstalled, and nothing is
# touched when everything is there. Needs root (or sudo) only when something
# is missing. --test also installs, with pip, the Python packages a few tests
# use to cross-check cssmc's files (numpy, safetensors); if that fails those
# tests skip and say so.
set -eu

python_test_packages() {
    command -v python3 >/dev/null 2>&1 || return 0
    python3 -c "import numpy, safetensors" 2>/dev/null && return 0
    echo "deps.sh: installing the Python test packages numpy and safetensors"
    python3 -m pip install --quiet --disable-pip-version-check numpy safetensors >/dev/null 2>&1 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages numpy safetensors >/dev/null 2>&1 ||
        echo "deps.sh: could not install numpy/safetensors; the tests that need them will skip"
}
[ "${1:-}" = "--test" ] && python_test_packages

PACKAGES="build-essential flex bison zlib1g-dev libpng-dev libfftw3-dev pkg-config"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root (or install sudo) to install them" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing >/dev/null
