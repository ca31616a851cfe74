#!/usr/bin/env bash
# qemu32.sh - 32-bit test programs on a kernel that cannot run them (no IA32 emulation), for
# make M32=1 test.  `qemu32.sh --native B`: exit 0 when this kernel runs a 32-bit program (a probe
# built into B/tests) and SNUG_M32_QEMU is not set (it forces the qemu path, to test it here).
# `qemu32.sh [env [VAR=VALUE...]] PROGRAM ARGS...`: runs PROGRAM through qemu-i386 when it is a
# 32-bit ELF file, as it is otherwise; LD_PRELOAD goes to the program, not to qemu itself.
set -u
if [ "${1:-}" = --native ]; then
    [ -z "${SNUG_M32_QEMU:-}" ] || exit 1
    probe=${2:-build32}/tests/m32-probe
    mkdir -p "$(dirname "$probe")"
    printf '#include <stdio.h>\nint main(void) { puts("m32-ok"); return 0; }\n' |
        ${CC:-gcc} -m32 -x c - -o "$probe" 2>/dev/null || exit 0  # no -m32 compiler: the build says so
    # run from a subshell: where the kernel refuses the format, the shell would read the file as a
    # script (the "Syntax error" lines of such runs); only the real program prints m32-ok
    [ "$( ("$probe") 2>/dev/null)" = m32-ok ]
    exit
fi
# (a 32-bit LD_PRELOAD must not reach a 64-bit process: its loader would print an error line)
preload=${LD_PRELOAD-}
unset LD_PRELOAD
if [ "${1:-}" = env ]; then
    shift
    while [ $# -gt 0 ] && [[ $1 == *=* ]]; do
        case $1 in
        LD_PRELOAD=*) preload=${1#LD_PRELOAD=} ;;
        *) export "${1?}" ;;
        esac
        shift
    done
fi
prog=$(command -v "$1" 2>/dev/null || echo "$1")
if [ "$(head -c 5 "$prog" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c4601 ]; then
    shift
    # SNUG_TEST_QEMU tells a test that resident memory is the emulator's: qemu 7.2 ignores
    # MADV_DONTNEED and keeps the pages of a shrunk brk, so RSS does not fall when snug frees
    exec qemu-i386 -E SNUG_TEST_QEMU=1 ${preload:+-E "LD_PRELOAD=$preload"} "$prog" "$@"
fi
[ -n "$preload" ] && export LD_PRELOAD="$preload"
exec "$@"
