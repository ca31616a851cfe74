#!/usr/bin/env bash
# package.sh - what a user installs: the manual pages pass mandoc's and groff's linters, one
# version everywhere (snug.h, snug_version(), the soname, the tools' --version, verbose, NEWS,
# debian/changelog), and `make install DESTDIR=...` stages a library that a program finds through
# pkg-config, then `make uninstall` removes every file.  Prints PASS/FAIL lines for tests/run.sh.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
B=${B:-build}
M32=${M32:-}
LOGS=$B/tests/logs/package
mkdir -p "$LOGS"
CC=${CC:-gcc}
ARCH=${M32:+-m32}

pass() { echo "PASS package/$1"; }
fail() { echo "FAIL package/$1: $2"; }

# 1. manual pages: no mandoc warning (style notes about cross references aside), no groff warning
for m in man/*.[1-9]; do
    [ -f "$m" ] || continue
    out=$( { mandoc -T lint -W warning "$m"; groff -ww -z -mandoc "$m"; } 2>&1)
    if [ -z "$out" ] && command -v mandoc >/dev/null && command -v groff >/dev/null; then
        pass "man-lint/$(basename "$m")"
    else
        fail "man-lint/$(basename "$m")" "${out:-mandoc or groff is missing}"
        echo "$out" | head -n 10 | sed 's/^/    | /'
    fi
done

# 2. one version
ver_part() { sed -n "s/^#define SNUG_VERSION_$1  *\([0-9][0-9]*\).*/\1/p" include/snug.h; }
V="$(ver_part MAJOR).$(ver_part MINOR).$(ver_part PATCH)"
bad=""
grep -q "^#define SNUG_VERSION_STRING \"$V\"" include/snug.h || bad="$bad SNUG_VERSION_STRING;"
soname=$(readelf -d "$B/libsnug.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libsnug.so.${V%%.*}" ] || bad="$bad soname '$soname';"
[ "$(readlink "$B/libsnug.so.${V%%.*}")" = "libsnug.so.$V" ] || bad="$bad $B/libsnug.so.${V%%.*} link;"
for t in snug-replay snug-gen; do
    [ "$(${RUN32:+"$RUN32"} "$B/$t" --version 2>&1)" = "$t $V" ] || bad="$bad $t --version;"
done
if [ -z "$M32" ]; then
    first=$(SNUG_OPTIONS=verbose LD_PRELOAD="$PWD/$B/libsnug.so" /bin/echo x 2>&1 >/dev/null | head -n 1)
    [ "$first" = "snug: version $V" ] || bad="$bad verbose's first line '$first';"
fi
news=$(grep -m 1 -oE '^[0-9]+\.[0-9]+\.[0-9]+' NEWS 2>/dev/null)
[ "$news" = "$V" ] || bad="$bad NEWS says '$news';"
if [ -f debian/changelog ]; then
    deb=$(sed -n '1s/^snug (\([^)-]*\).*/\1/p' debian/changelog)
    [ "$deb" = "$V" ] || bad="$bad debian/changelog says '$deb';"
fi
if [ -z "$bad" ]; then pass "version-$V-everywhere"; else fail "version-$V-everywhere" "wrong:$bad"; fi

# 3. make install into a staging directory, a program built with pkg-config, make uninstall
D=$(mktemp -d "${TMPDIR:-/tmp}/snug-install.XXXXXX")
trap 'rm -rf "$D"' EXIT
log=$LOGS/install.log
if $MAKE --no-print-directory B="$B" M32="$M32" install DESTDIR="$D/root" PREFIX=/usr >"$log" 2>&1; then
    libdir=$(ls -d "$D"/root/usr/lib/*/pkgconfig "$D"/root/usr/lib/pkgconfig 2>/dev/null | head -n 1)
    libdir=${libdir%/pkgconfig}
    miss=""
    for f in "$libdir/libsnug.so.$V" "$libdir/libsnug.so.${V%%.*}" "$libdir/libsnug.so" \
        "$libdir/libsnug.a" "$libdir/libsnug-prefix.a" "$libdir/snug/snug-trace.so" \
        "$libdir/pkgconfig/snug.pc" "$D/root/usr/include/snug.h" "$D/root/usr/bin/snug-replay" \
        "$D/root/usr/bin/snug-gen" "$D/root/usr/share/man/man3/snug.3" \
        "$D/root/usr/share/man/man1/snug-replay.1" "$D/root/usr/share/man/man1/snug-gen.1" \
        "$D/root/usr/share/man/man7/snug-trace.7"; do
        [ -e "$f" ] || miss="$miss ${f#"$D"/root}"
    done
    if [ -z "$miss" ]; then pass install/files; else fail install/files "not installed:$miss"; fi
    cat >"$D/prog.c" <<'EOF'
#include <snug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    struct snug_stats before, after;
    snug_stats(&before);
    char *p = malloc(100000);
    memset(p, 1, 100000);
    snug_stats(&after);
    printf("%s %d\n", snug_version(), after.live_bytes >= before.live_bytes + 100000);
    free(p);
    return strcmp(snug_version(), SNUG_VERSION_STRING) != 0;
}
EOF
    # the sysroot prefixes /usr/include and /usr/lib/...: keep them (pkg-config drops system dirs)
    pc="PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D/root PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
        PKG_CONFIG_ALLOW_SYSTEM_LIBS=1"
    flags=$(env $pc pkg-config --cflags --libs snug 2>>"$log")
    # shellcheck disable=SC2086
    if $CC $ARCH "$D/prog.c" $flags -o "$D/prog" >>"$log" 2>&1 &&
        out=$(LD_LIBRARY_PATH=$libdir ${RUN32:+"$RUN32"} "$D/prog" 2>>"$log") && [ "$out" = "$V 1" ] &&
        { [ -n "$M32" ] || LD_LIBRARY_PATH=$libdir ldd "$D/prog" 2>/dev/null |
            grep -q "libsnug.so.${V%%.*} => $libdir/"; }; then
        pass install/pkg-config-program
    else
        fail install/pkg-config-program "flags '$flags', output '${out:-}'; see $log"
    fi
    $MAKE --no-print-directory B="$B" M32="$M32" uninstall DESTDIR="$D/root" PREFIX=/usr >>"$log" 2>&1
    left=$(find "$D/root" ! -type d | sed "s|^$D/root||")
    if [ -z "$left" ]; then pass uninstall; else fail uninstall "left: $(echo $left)"; fi
else
    fail install/files "make install failed; see $log"
    tail -n 10 "$log" | sed 's/^/    | /'
fi
