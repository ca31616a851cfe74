#!/usr/bin/env bash
# tools.sh - the tools' conventions and reports: snug-gen's options (getopt_long), the allocator
# snug-replay names, tracing one program (SNUG_TRACE_ONLY) and no leftover files after exec,
# external fragmentation on a trace where it is known.  Prints PASS/FAIL/SKIP lines for
# tests/run.sh to count; logs in B/tests/logs/tools/.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
LOGS=$B/tests/logs/tools
W=$B/tests/work/tools
rm -rf "$W"
mkdir -p "$LOGS" "$W"
R=${RUN32:+$RUN32}

# t NAME WHY CONDITION...: PASS, or FAIL with WHY
t() {
    local name=$1 why=$2
    shift 2
    if "$@"; then echo "PASS tools/$name"; else echo "FAIL tools/$name: $why"; fi
}
for tool in snug-gen snug-replay snug-trace.so; do
    [ -e "$B/$tool" ] || { echo "FAIL tools/$tool: $B/$tool is missing (make tools)"; exit 0; }
done
V=$(sed -n 's/^#define SNUG_VERSION_STRING "\(.*\)"/\1/p' include/snug.h)

# ---- snug-gen: --help, --version, bundled short options, --opt=value ----
gen() { $R "$B/snug-gen" "$@"; }
gen --seed 7 --scale 2 -o "$W/a.rep" server 2>"$LOGS/gen-a.err"
gen -vx2 -s7 -o "$W/b.rep" server 2>"$LOGS/gen-b.err"
gen --scale=2 --seed=7 --output="$W/c.rep" server 2>"$LOGS/gen-c.err"
gen server -x2 -s 7 >"$W/d.rep" 2>"$LOGS/gen-d.err"
t gen/same-trace-every-spelling "the four spellings of seed 7 scale 2 differ (or failed; $LOGS/gen-*.err)" \
    eval "[ -s $W/a.rep ] && cmp -s $W/a.rep $W/b.rep && cmp -s $W/a.rep $W/c.rep && cmp -s $W/a.rep $W/d.rep"
t gen/bundled-verbose "-vx2 said nothing on stderr: '$(cat "$LOGS/gen-b.err")'" \
    grep -qE '^snug-gen: server seed 7 scale 2: [0-9]+ operations' "$LOGS/gen-b.err"
gen -x1 -s1 -o "$W/e.rep" server 2>/dev/null
t gen/seed-matters "seed 1 and seed 7 gave the same trace" eval "[ -s $W/e.rep ] && ! cmp -s $W/a.rep $W/e.rep"
out=$(gen --version 2>&1); t gen/version "--version printed '$out'" test "$out" = "snug-gen $V"
out=$(gen -V 2>&1); t gen/version-short "-V printed '$out'" test "$out" = "snug-gen $V"
rc=0; gen --help >"$LOGS/gen-help.out" 2>&1 || rc=$?
t gen/help "--help: exit status $rc, or no --seed=N in its text" eval "[ $rc = 0 ] && grep -q -- '--seed=N' $LOGS/gen-help.out"
for bad in "--scale=0 server" "--scale 10001 server" "-x server" "--seed=-1 server" "--bogus server" "-q server" "server random" "" "nosuchpattern"; do
    rc=0
    # shellcheck disable=SC2086
    gen $bad >"$W/bad.out" 2>"$LOGS/gen-bad.err" || rc=$?
    t "gen/rejects/$(echo "${bad:-nothing}" | tr ' ' '_')" "exit status $rc (wanted 2) with '$(head -n 1 "$LOGS/gen-bad.err")'" \
        eval "[ $rc = 2 ] && [ ! -s $W/bad.out ] && grep -q '^snug-gen: \|^usage: ' $LOGS/gen-bad.err"
done
