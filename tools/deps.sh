#!/bin/sh
# deps.sh: installs the Debian packages cssmc needs to build and test.
# Idempotent: packages already present are not reinstalled, and nothing is
# touched when everything is there. Needs root (or sudo) only when something
# is missing.
set -eu

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
