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

# ---- snug-replay names the allocator it measured (text and JSON); progress only on a terminal ----
rep() { $R "$B/snug-replay" "$@"; }
gen -o "$W/s.rep" server 2>/dev/null
jname() { sed -n 's/^{"allocator": "\([^"]*\)", "allocator_name": "\([^"]*\)", "traces": \[$/\1|\2/p' "$1"; }
rep -n 1 --json "$W/s.rep" >"$LOGS/replay-snug.json" 2>"$LOGS/replay-snug.err"
t replay/names-snug "JSON head '$(head -n 1 "$LOGS/replay-snug.json")'" test "$(jname "$LOGS/replay-snug.json")" = "snug|snug $V"
rep -n 1 "$W/s.rep" >"$LOGS/replay-snug.txt" 2>&1
t replay/names-snug-text "first line '$(head -n 1 "$LOGS/replay-snug.txt")'" test "$(head -n 1 "$LOGS/replay-snug.txt")" = "allocator: snug $V"
rep -n 1 --gc --json "$W/s.rep" >"$LOGS/replay-gc.json" 2>&1
t replay/names-gc "JSON head '$(head -n 1 "$LOGS/replay-gc.json")'" test "$(jname "$LOGS/replay-gc.json")" = "snug-gc|snug-gc $V"
glibc=$(getconf GNU_LIBC_VERSION)
rep -n 1 --system --json "$W/s.rep" >"$LOGS/replay-system.json" 2>&1
t replay/names-glibc "JSON head '$(head -n 1 "$LOGS/replay-system.json")', wanted '$glibc'" \
    test "$(jname "$LOGS/replay-system.json")" = "system|$glibc"
rep -n 1 --system "$W/s.rep" >"$LOGS/replay-system.txt" 2>&1
t replay/names-glibc-text "first line '$(head -n 1 "$LOGS/replay-system.txt")'" test "$(head -n 1 "$LOGS/replay-system.txt")" = "allocator: $glibc"
if [ -n "${M32:-}" ]; then
    echo "SKIP tools/replay/names-preloaded: the system's allocators are 64-bit"
else
    timeout 120 env LD_PRELOAD="$PWD/$B/libsnug.so" "$B/snug-replay" -n 1 --system --json "$W/s.rep" >"$LOGS/replay-presnug.json" 2>&1
    t replay/names-preloaded-snug "JSON head '$(head -n 1 "$LOGS/replay-presnug.json")'" \
        test "$(jname "$LOGS/replay-presnug.json")" = "system|snug $V"
    arch=$(gcc -print-multiarch 2>/dev/null)
    for lib in libjemalloc.so.2 libmimalloc.so.2 libtcmalloc_minimal.so.4; do
        so=/usr/lib/$arch/$lib
        if [ ! -f "$so" ]; then echo "SKIP tools/replay/names-$lib: $so is not installed"; continue; fi
        timeout 120 env LD_PRELOAD="$so" "$B/snug-replay" -n 1 --system --json "$W/s.rep" >"$LOGS/replay-$lib.json" 2>&1
        t "replay/names-$lib" "JSON head '$(head -n 1 "$LOGS/replay-$lib.json")'" \
            test "$(jname "$LOGS/replay-$lib.json")" = "system|$lib"
    done
fi
# stderr is not a terminal here: nothing on it, however long the replay
gen -x 30 -o "$W/big.rep" server 2>/dev/null
rep -n 1 "$W/big.rep" >"$LOGS/replay-big.out" 2>"$LOGS/replay-big.err"
t replay/no-progress-off-terminal "stderr: '$(head -c 200 "$LOGS/replay-big.err")'" test ! -s "$LOGS/replay-big.err"
if [ -n "$R" ] || ! command -v script >/dev/null; then
    echo "SKIP tools/replay/progress-on-terminal: needs script(1) and a native build"
else
    # (from the start, not after the usual second: this replay can take less on a fast machine)
    script -qec "env SNUG_REPLAY_PROGRESS_AFTER=0 $B/snug-replay -n 3 $W/big.rep >/dev/null" /dev/null >"$LOGS/replay-tty.out" 2>&1
    t replay/progress-on-terminal "no progress line on a terminal: '$(tr '\r' '\n' <"$LOGS/replay-tty.out" | head -c 300)'" \
        grep -qE 'big.rep: (checking run, op [0-9]+/2[0-9]+|timing run [0-9]/3) \([0-9]+%' "$LOGS/replay-tty.out"
fi

# ---- snug-trace.so: no .rep.ops left by exec; SNUG_TRACE_ONLY ----
if [ -n "${M32:-}" ]; then
    echo "SKIP tools/trace: the system's programs are 64-bit and cannot load a 32-bit snug-trace.so"
else
    TR=$PWD/$B/snug-trace.so
    PY=/usr/bin/python3
    # trace DIR CMD...: CMD under the tracer, its files in DIR
    trace() { local d=$1; shift; rm -rf "$d"; mkdir -p "$d"; SNUG_TRACE_DIR=$d LD_PRELOAD=$TR timeout 120 "$@" >/dev/null 2>&1; }
    # every .rep in DIR replays without error
    replays() { local f; for f in "$1"/*.rep; do [ -f "$f" ] && "$B/snug-replay" -q -n 0 "$f" || return 1; done; }
    files() { (cd "$1" && ls | sed 's/\.[0-9][0-9]*\.rep/.PID.rep/' | sort | tr '\n' ' '); }
    # a shell that allocates, then execs env, which execs true: each image leaves its .rep
    trace "$W/exec" /bin/sh -c 'x=$(echo a); exec /usr/bin/env true'
    t trace/exec-leaves-no-ops "files: $(files "$W/exec")" \
        eval "! ls $W/exec | grep -q '\.ops\$' && ls $W/exec | grep -q '^sh\.[0-9]*\.rep\$' &&
              ls $W/exec | grep -q '^env\.[0-9]*\.rep\$' && replays $W/exec"
    # an exec that fails: recording goes on, and the .rep at exit holds what came after
    trace "$W/exec-fails" "$PY" -c "import os
try: os.execv('/nonexistent', ['x'])
except OSError: pass
keep = [bytearray(100000) for i in range(50)]"
    f=$(ls "$W"/exec-fails/python3.*.rep 2>/dev/null | head -n 1)
    peak=$([ -n "$f" ] && "$B/snug-replay" --json -n 0 "$f" 2>/dev/null | sed -n 's/.*"peak_payload": \([0-9]*\).*/\1/p')
    t trace/failed-exec-records-on "files: $(files "$W/exec-fails"), peak payload '${peak:-}' (wanted >= 5000000)" \
        eval "! ls $W/exec-fails | grep -q '\.ops\$' && [ \"\${peak:-0}\" -ge 5000000 ]"
    # SNUG_TRACE_ONLY: by argv[0] (python3), by the file name of /proc/self/exe (python3.11), neither
    SNUG_TRACE_ONLY=python3 trace "$W/only" /bin/sh -c "$PY -c pass; ls; $PY -c pass"
    t trace/only-by-argv0 "files: $(files "$W/only") (wanted two python3 traces, nothing else)" \
        test "$(files "$W/only")" = "python3.PID.rep python3.PID.rep "
    exe=$(basename "$(readlink -f "$PY")")
    SNUG_TRACE_ONLY=nosuch,$exe trace "$W/only-exe" /bin/sh -c "$PY -c pass; ls"
    t trace/only-by-exe "files: $(files "$W/only-exe") (wanted one trace named python3, the program $exe)" \
        test "$(files "$W/only-exe")" = "python3.PID.rep "
    SNUG_TRACE_ONLY=nosuch trace "$W/only-none" /bin/sh -c "$PY -c pass; ls"
    t trace/only-no-match "files: $(files "$W/only-none")" test -z "$(files "$W/only-none")"
    t trace/only-traces-replay "a trace of the python3 runs does not replay" replays "$W/only"
fi

# ---- external fragmentation at the payload peak (a crafted trace where it is known) ----
# eleven 100000-byte blocks, every other one of the first ten freed (five holes the live
# blocks keep apart), then a 1 MB block (its own mapping) makes the peak: free is about
# 5 x 100000 (plus what is left of a region's top), the largest one hole, efrag about 0.8.
# The control frees five neighbours instead: one hole, efrag about 0.
craft() {
    { echo 0; echo 12; echo 17; echo 1
      for i in 0 1 2 3 4 5 6 7 8 9 10; do echo "a $i 100000"; done
      for i in "$@"; do echo "f $i"; done
      echo "a 11 1000000"; } >"$W/frag-$1.rep"
}
craft 1 3 5 7 9
craft 2 3 4 5 6
field() { sed -n "s/.*\"$2\": \\(null\\|[0-9][0-9.]*\\).*/\\1/p" "$1"; }
rep --json -n 0 "$W/frag-1.rep" >"$LOGS/efrag-holes.json" 2>&1
fr=$(field "$LOGS/efrag-holes.json" free_at_peak); lg=$(field "$LOGS/efrag-holes.json" largest_free_at_peak)
ef=$(field "$LOGS/efrag-holes.json" efrag)
t efrag/five-holes "free_at_peak '$fr' (500000..520000), largest '$lg' (100000..100100), efrag '$ef' (0.78..0.81)" \
    eval "[ \"\${fr:-0}\" -ge 500000 ] && [ \"\${fr:-0}\" -le 520000 ] && [ \"\${lg:-0}\" -ge 100000 ] &&
          [ \"\${lg:-0}\" -le 100100 ] && awk 'BEGIN { exit !($ef >= 0.78 && $ef <= 0.81) }'"
rep --json -n 0 "$W/frag-2.rep" >"$LOGS/efrag-one-hole.json" 2>&1
fr=$(field "$LOGS/efrag-one-hole.json" free_at_peak); ef=$(field "$LOGS/efrag-one-hole.json" efrag)
t efrag/one-hole "free_at_peak '$fr' (>= 500000), efrag '$ef' (< 0.05)" \
    eval "[ \"\${fr:-0}\" -ge 500000 ] && awk 'BEGIN { exit !(\"$ef\" != \"\" && $ef < 0.05) }'"
rep --json --system -n 0 "$W/frag-1.rep" >"$LOGS/efrag-system.json" 2>&1
t efrag/system-unknown "with --system: efrag '$(field "$LOGS/efrag-system.json" efrag)', free_at_peak '$(field "$LOGS/efrag-system.json" free_at_peak)' (wanted null)" \
    eval "[ \"$(field "$LOGS/efrag-system.json" efrag)\" = null ] && [ \"$(field "$LOGS/efrag-system.json" free_at_peak)\" = null ]"
rep --system -n 0 "$W/frag-1.rep" >"$LOGS/efrag-system.txt" 2>&1
t efrag/system-text-n/a "the --system table row: '$(sed -n 3p "$LOGS/efrag-system.txt")'" \
    eval "sed -n 3p $LOGS/efrag-system.txt | awk '{ exit !(\$8 == \"n/a\") }'"
