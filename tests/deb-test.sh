#!/usr/bin/env bash
# deb-test.sh - `make deb-test`: builds the Debian packages (debian/) from a copy of the tree
# with dpkg-buildpackage -us -uc -b (no test suite: that is make test), runs lintian on them
# (failing on errors and warnings), installs libsnug1, libsnug-dev and snug-tools, checks a
# preloaded program, a program built with pkg-config and the tools, then purges the packages
# and checks that none of their files is left (SNUG_DEB_OUT=dir keeps the .debs).  Needs root (it installs packages); otherwise,
# or without dpkg-buildpackage, it says so in one line and exits 0.  Leaves the tree and the
# machine as it found them.  Prints PASS/FAIL lines and "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
PKGS="libsnug1 libsnug-dev snug-tools"
if [ "$(id -u)" != 0 ]; then
    echo "SKIP deb-test: not root (it installs and removes the packages it builds)"
    exit 0
fi
"$ROOT/tools/need-debs.sh" tests/deb-test.sh lenient dpkg-dev debhelper lintian pkg-config gcc make
if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
    echo "SKIP deb-test: dpkg-buildpackage or debhelper is missing (apt-get install dpkg-dev debhelper)"
    exit 0
fi
for p in $PKGS; do
    if dpkg -s "$p" >/dev/null 2>&1; then
        echo "SKIP deb-test: $p is already installed here; not replacing or removing it"
        exit 0
    fi
done

PASSED=0 FAILED=0
pass() { echo "PASS deb/$1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL deb/$1${2:+: $2}"; FAILED=$((FAILED + 1)); }
show() { tail -n "${2:-20}" "$1" | sed 's/^/    | /'; }
# check NAME CMD...: a step that passes when CMD succeeds (its output in $W/NAME.log)
check() {
    local name=$1
    shift
    if "$@" >"$W/$name.log" 2>&1; then pass "$name"; else fail "$name" "see below"; show "$W/$name.log"; fi
}

W=$(mktemp -d /tmp/snug-deb.XXXXXX)
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        # shellcheck disable=SC2086
        dpkg --purge $PKGS >/dev/null 2>&1
    fi
    rm -rf "$W"
}
trap cleanup EXIT
V=$(sed -n '1s/^snug (\([^)]*\)).*/\1/p' debian/changelog)
ARCH=$(dpkg --print-architecture)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
echo "== deb-test: snug $V for $ARCH, built in $W"

# 1. a copy of the tree without build output or git metadata, so the work tree stays clean
SRC=$W/snug-$V
mkdir -p "$SRC"
tar -C "$ROOT" --exclude=./.git --exclude='./build*' --exclude='./debian/.debhelper' -cf - . |
    tar -C "$SRC" -xf -
start=$(date +%s)
if (cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
    >"$W/build.log" 2>&1; then
    pass dpkg-buildpackage
    echo "    built in $(($(date +%s) - start)) s: $(cd "$W" && echo *.deb)"
else
    fail dpkg-buildpackage "see below"
    show "$W/build.log" 30
    echo "$PASSED passed, $FAILED failed"
    exit 1
fi
debs=""
for p in $PKGS; do
    f=$W/${p}_${V}_$ARCH.deb
    if [ -f "$f" ]; then debs="$debs $f"; else fail "built/$p" "no $f"; fi
done

# SNUG_DEB_OUT=dir keeps a copy of the packages
if [ -n "${SNUG_DEB_OUT:-}" ]; then mkdir -p "$SNUG_DEB_OUT" && cp $debs "$SNUG_DEB_OUT"/; fi

# 2. lintian: errors and warnings fail; every override in debian/ says why
changes=$W/snug_${V}_$ARCH.changes
lintian --fail-on error,warning --display-info --show-overrides "$changes" >"$W/lintian.log" 2>&1
rc=$?
sed 's/^/    lintian: /' "$W/lintian.log"
if [ "$rc" = 0 ]; then pass lintian; else fail lintian "errors or warnings above"; fi

# 3. install, use, remove
# shellcheck disable=SC2086
if dpkg -i $debs >"$W/install.log" 2>&1; then
    installed=1
    pass install
else
    installed=1
    fail install "see below"
    show "$W/install.log"
fi
cat >"$W/prog.c" <<'EOF'
#include <snug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    struct snug_stats st;
    char *p = malloc(100000);
    memset(p, 1, 100000);
    snug_stats(&st);
    printf("snug %s, %zu bytes live\n", snug_version(), st.live_bytes);
    free(p);
    return st.live_bytes < 100000 || strcmp(snug_version(), SNUG_VERSION_STRING) != 0;
}
EOF
check preload-by-soname sh -c "SNUG_OPTIONS=verbose LD_PRELOAD=libsnug.so.1 /usr/bin/python3 -c 'print(6*7)' 2>&1 | grep -x 'snug: version $V' && LD_PRELOAD=libsnug.so.1 /usr/bin/python3 -c 'import ctypes; print(ctypes.CDLL(None).snug_stats)'"
check pkg-config-program sh -c "cc $W/prog.c \$(pkg-config --cflags --libs snug) -o $W/prog && $W/prog && ldd $W/prog | grep -E 'libsnug.so.1 => (/usr)?/lib/$MA/libsnug.so.1'"
check static-libsnug.a sh -c "cc -static $W/prog.c /usr/lib/$MA/libsnug.a -pthread -o $W/prog-static && $W/prog-static"
check tools sh -c "snug-replay --version | grep -x 'snug-replay $V' && snug-gen --version | grep -x 'snug-gen $V' &&
    snug-gen server -o $W/server.rep && snug-replay -n 1 $W/server.rep &&
    mkdir $W/t && SNUG_TRACE_DIR=$W/t LD_PRELOAD=/usr/lib/$MA/snug/snug-trace.so /usr/bin/python3 -c 'print(sorted(str(i) for i in range(999))[5])' &&
    snug-replay -n 1 $W/t/python3.*.rep"
check manual-pages sh -c "ls /usr/share/man/man3/snug.3.gz /usr/share/man/man1/snug-replay.1.gz /usr/share/man/man1/snug-gen.1.gz /usr/share/man/man7/snug-trace.7.gz"
# every file the packages shipped, to check they are gone after the purge
# shellcheck disable=SC2086
dpkg -L $PKGS 2>/dev/null | sort -u >"$W/files.txt"
# shellcheck disable=SC2086
check purge dpkg --purge $PKGS
installed=0
left=""
while IFS= read -r f; do
    # directories other packages share (/usr/lib/$MA, ...) stay; snug's own must go
    case $f in *snug*) ;; *) [ -d "$f" ] && continue ;; esac
    if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done <"$W/files.txt"
if [ -z "$left" ]; then pass removed-cleanly; else fail removed-cleanly "left:$left"; fi
if ldconfig -p | grep -q libsnug; then fail ldconfig-cache "libsnug still in the ld.so cache"; else pass ldconfig-cache; fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
