#!/usr/bin/env bash
# deps.sh - makes sure the Debian packages the tests need are installed: as root it runs
# `apt-get update` once and `apt-get install -y` for the missing ones; otherwise it prints
# the apt-get line and fails.
set -u
PKGS="libcriterion-dev sqlite3 gcc g++ make binutils clang libclang-rt-14-dev perl git python3 xz-utils coreutils valgrind"
# 32-bit runs (make M32=1 test): gcc/g++ -m32 (and clang -m32 through the same i386 libraries)
[ -n "${M32:-}" ] && PKGS="$PKGS gcc-multilib g++-multilib"
missing=""
for p in $PKGS; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "tests/deps.sh: missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "tests/deps.sh: not root; install them with:"
    echo "    sudo apt-get update && sudo apt-get install -y$missing"
    echo "FAIL deps: missing packages:$missing"
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >/tmp/snug-apt-update.log 2>&1; then
    tail -n 20 /tmp/snug-apt-update.log
    echo "FAIL deps: apt-get update failed"
    exit 1
fi
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing; then
    echo "FAIL deps: apt-get install -y$missing failed"
    exit 1
fi
