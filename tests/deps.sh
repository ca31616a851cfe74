#!/usr/bin/env bash
# deps.sh - makes sure the Debian packages the tests need are installed: as root it runs
# `apt-get update` once and `apt-get install -y` for the missing ones; otherwise it prints
# the apt-get line and fails.
set -u
PKGS="libcriterion-dev sqlite3 gcc g++ make binutils clang libclang-rt-14-dev perl git python3 xz-utils coreutils valgrind mandoc groff-base pkg-config"
# 32-bit runs (make M32=1 test): gcc/g++ -m32 (and clang -m32 through the same i386 libraries)
[ -n "${M32:-}" ] && PKGS="$PKGS gcc-multilib g++-multilib"
# ... and qemu-i386 when this kernel cannot run 32-bit programs (tests/qemu32.sh asks it)
if [ -n "${M32:-}" ]; then
    "$(dirname "$0")/../tools/need-debs.sh" tests/deps.sh strict $PKGS || exit 1
    "$(dirname "$0")/qemu32.sh" --native "${B:-build32}" || PKGS="$PKGS qemu-user"
fi
exec "$(dirname "$0")/../tools/need-debs.sh" tests/deps.sh strict $PKGS
