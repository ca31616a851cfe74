#!/usr/bin/env bash
# run.sh - the driver behind `make test`: builds the libraries, tools and test programs, runs
# every test group, prints one PASS/FAIL line per test and closes with "N passed, N failed".
# Logs of every step are in build/tests/logs/.  Usage: tests/run.sh [GROUP...] (default: all).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
MAKE=${MAKE:-make}
B=${B:-build}          # `make test` passes its B (build32 for M32=1 runs)
M32=${M32:-}
T=$B/tests
LOGS=$T/logs
WORK=$T/work
SNUG_SO=$ROOT/$B/libsnug.so
mkdir -p "$LOGS" "$WORK"
# 32-bit runs where the kernel cannot run 32-bit programs (or SNUG_M32_QEMU=1, to test this
# path): every test program goes through qemu-i386 (tests/qemu32.sh; tools.mk uses it too)
RUN32=
if [ -n "$M32" ] && ! tests/qemu32.sh --native "$B"; then
    why="this kernel cannot run 32-bit programs"
    [ -n "${SNUG_M32_QEMU:-}" ] && why="SNUG_M32_QEMU is set"
    if ! command -v qemu-i386 >/dev/null; then
        echo "FAIL m32: $why and qemu-i386 is missing (apt-get install qemu-user)"
        exit 1
    fi
    RUN32=$ROOT/tests/qemu32.sh
    echo "== 32-bit test programs run through qemu-i386: $why"
fi
export RUN32
# build in parallel unless an outer make already hands out jobs
PAR=-j$(nproc 2>/dev/null || echo 2)
case " ${MAKEFLAGS:-} " in *jobserver*|*" -j"*|*" j"*) PAR= ;; esac

PASSED=0
FAILED=0
SKIPPED=0
START=$(date +%s)

pass() { echo "PASS $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
# A test that cannot run in this configuration, said out loud and counted.
skip() { echo "SKIP $1: $2"; SKIPPED=$((SKIPPED + 1)); }
# Shows the last lines of a log, indented, after a failure.
show() { tail -n "${2:-25}" "$1" | sed 's/^/    | /'; }

# step NAME LOG CMD... : a build step that counts as a test.
step() {
    local name=$1 log=$2
    shift 2
    if "$@" >"$log" 2>&1; then
        pass "$name"
        return 0
    fi
    fail "$name" "see $log"
    show "$log"
    return 1
}

# Runs a program of tests/common/harness.h: its "PASS x" / "FAIL x: why" lines become
# GROUP/x; it must reach its "DONE" line.  run_harness GROUP TIMEOUT CMD...
run_harness() {
    local group=$1 tmo=$2
    shift 2
    local log=$LOGS/$group.log rc=0
    timeout -k 10 "$tmo" ${RUN32:+"$RUN32"} "$@" >"$log" 2>&1 || rc=$?
    local nfail=0 line name
    while IFS= read -r line; do
        case $line in
        "PASS "*) pass "$group/${line#PASS }" ;;
        "SKIP "*) name=${line#SKIP }; skip "$group/${name%%: *}" "${name#*: }" ;;
        "FAIL "*)
            fail "$group/${line#FAIL }"; nfail=$((nfail + 1))
            name=${line#FAIL }; name=${name%%:*}
            grep -F "# $name: " "$log" | head -n 20 | sed 's/^/    | /' ;;
        esac
    done <"$log"
    if ! grep -q '^DONE ' "$log"; then
        local why="did not finish (exit status $rc)"
        [ "$rc" = 124 ] && why="did not finish within ${tmo}s (hang guard)"
        fail "$group" "$why; see $log"
        show "$log"
    elif [ "$rc" != 0 ] && [ "$nfail" = 0 ]; then
        fail "$group" "exit status $rc with no failing check; see $log"
        show "$log"
    fi
    # after a failure: messages of the program or the allocator that are not harness lines
    if [ "$nfail" != 0 ]; then
        grep -vE '^(PASS|FAIL|DONE|#) ' "$log" | head -n 10 | sed 's/^/    | /'
    fi
}

# Runs a Criterion binary; one PASS/FAIL line per test from its TAP report, checked against
# the plan and against Criterion's own synthesis.  run_criterion GROUP BINARY [env...]
run_criterion() {
    local group=$1 bin=$2
    shift 2
    local log=$LOGS/$group.log tap=$LOGS/$group.tap rc=0
    rm -f "$tap"
    env "$@" timeout -k 10 900 ${RUN32:+"$RUN32"} "$bin" -j2 --ascii --tap="$tap" >"$log" 2>&1 || rc=$?
    if [ ! -s "$tap" ]; then
        fail "$group" "no TAP report (exit status $rc); see $log"
        show "$log"
        return
    fi
    local plan n=0 line name
    plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tap" | head -n 1)
    while IFS= read -r line; do
        case $line in
        "ok - "*)
            name=${line#ok - }; name=${name%% *}
            pass "$group/${name#*::}"; n=$((n + 1)) ;;
        "not ok - "*)
            name=${line#not ok - }
            name=${name%% *}
            fail "$group/${name#*::}" "details below"; n=$((n + 1)) ;;
        esac
    done <"$tap"
    # the failure messages from Criterion's own output
    grep -E '^\[----\] .*(Assert|assert|:[0-9]+:)|^\[----\]   [^ ]|^\[FAIL\]|Sanitizer|runtime error' "$log" \
        | head -n 40 | sed 's/^/    | /'
    if [ -z "$plan" ] || [ "$n" != "$plan" ]; then
        fail "$group" "TAP report lists $n results for a plan of ${plan:-?} tests; see $log"
    fi
    local synth
    synth=$(grep 'Synthesis:' "$log" | tail -n 1)
    echo "    criterion $group: ${synth:-no synthesis line}"
    local tested
    tested=$(echo "$synth" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
    if [ "${tested:-x}" != "$n" ]; then
        fail "$group" "Criterion says '${synth:-nothing}', the TAP report lists $n tests"
    fi
    if [ "$rc" != 0 ] && ! grep -q '^not ok' "$tap"; then
        fail "$group" "exit status $rc with every test passing; see $log"
        show "$log"
    fi
}

# ---------------------------------------------------------------------------------------------
group_build() {
    echo "== build"
    step build/libs "$LOGS/build-libs.log" $MAKE $PAR libs || true
    step build/libsnug-asan.a "$LOGS/build-asan.log" $MAKE $PAR "$B/libsnug-asan.a" || true
    if grep -qE '^tools:' tools/tools.mk 2>/dev/null; then
        step build/tools "$LOGS/build-tools.log" $MAKE $PAR tools || true
    else
        fail build/tools "tools/tools.mk has no 'tools' target yet"
    fi
}

# layers: tools/layers.py checks DESIGN.md's layer table against the objects just built; then
# it must fail on objects that pretend to be a file of the library calling where it may not.
group_layers() {
    echo "== layers (DESIGN.md's table against the build: no call up a layer, no call cycle inside one; its invariant labels against the sources)"
    step build/layers-libs "$LOGS/build-layers.log" $MAKE $PAR libs || return
    local log=$LOGS/layers.log probe=$WORK/layers-probe
    if python3 tools/layers.py --build "$B" >"$log" 2>&1; then
        pass layers/build
    else
        fail layers/build "see $log"
        show "$log"
    fi
    mkdir -p "$probe"
    printf 'void *sn_malloc(unsigned long);\nvoid *layers_probe_up(void) { return sn_malloc(1); }\n' >"$probe/up.c"
    printf 'struct heap;\nstruct heap *heap_get(void);\nstruct heap *layers_probe_back(void) { return heap_get(); }\n' \
        >"$probe/back.c"
    if ! ${CC:-cc} -c "$probe/up.c" -o "$probe/up.o" >"$LOGS/layers-probe.log" 2>&1 ||
        ! ${CC:-cc} -c "$probe/back.c" -o "$probe/back.o" >>"$LOGS/layers-probe.log" 2>&1; then
        fail layers/probes "the probe objects did not compile; see $LOGS/layers-probe.log"
        return
    fi
    # layers_expect NAME TEXT ARGS...: the check exits 1 and names the offence (TEXT)
    layers_expect() {
        local name=$1 want=$2 rc=0
        shift 2
        python3 tools/layers.py --build "$B" "$@" >"$LOGS/layers-$name.log" 2>&1 || rc=$?
        if [ "$rc" = 1 ] && grep -qF "$want" "$LOGS/layers-$name.log"; then
            pass "layers/$name"
        else
            fail "layers/$name" "exit status $rc, wanted 1 and a line with '$want'"
            show "$LOGS/layers-$name.log" 10
        fi
    }
    # os.c (the bottom) calling malloc's entry point; live.c calling back the heap that calls it;
    # a file the table does not name
    layers_expect fails-on-upward-call "src/os.c (layer 1 base) calls sn_malloc of src/alloc.c (layer 8 entry)" \
        --extra "$probe/up.o=src/os.c"
    layers_expect fails-on-cycle-in-layer "call cycle inside layer 4 heaps: src/heap.c -> src/live.c" \
        --extra "$probe/back.o=src/live.c"
    layers_expect fails-on-unlisted-file "src/layers_probe.c: not in the layer table" \
        --extra "$probe/up.o=src/layers_probe.c"
    # DESIGN.md's invariant labels against the sources' citations, and a citation of a label
    # DESIGN.md does not state
    if python3 tools/labels.py >"$LOGS/labels.log" 2>&1; then
        pass layers/invariant-labels
    else
        fail layers/invariant-labels "see $LOGS/labels.log"
        show "$LOGS/labels.log"
    fi
    printf '/* checked here: I9 */\n' >"$probe/label.c"
    local rc=0
    python3 tools/labels.py --extra "$probe/label.c" >"$LOGS/labels-probe.log" 2>&1 || rc=$?
    if [ "$rc" = 1 ] && grep -qF "cites I9, which DESIGN.md's Invariants does not state" "$LOGS/labels-probe.log"; then
        pass layers/labels-fails-on-unknown-label
    else
        fail layers/labels-fails-on-unknown-label "exit status $rc, wanted 1 naming I9"
        show "$LOGS/labels-probe.log" 10
    fi
}

group_contract() {
    echo "== contract (Criterion, libsnug-prefix.a)"
    step build/contract "$LOGS/build-contract.log" $MAKE "$T/contract" &&
        run_criterion contract "$T/contract"
}

group_asan() {
    echo "== contract-asan (Criterion, clang ASan+UBSan, libsnug-asan.a)"
    # detect_leaks=0: Criterion's runner keeps allocations to exit; the allocator under test
    # maps its own memory, so leak reports would only be about Criterion.
    step build/contract-asan "$LOGS/build-contract-asan.log" $MAKE "$T/contract-asan" &&
        run_criterion contract-asan "$T/contract-asan" \
            ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}

# The exported names of include/snug.h.
snug_names() { grep -oE '\bsnug_[a-z0-9_]+ *\(' include/snug.h | sed 's/ *($//' | sort -u; }
STD_NAMES="malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc
malloc_usable_size free_sized free_aligned_sized malloc_trim mallinfo2 mallinfo malloc_stats mallopt
__libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign"

# missing_from FILE NAMES... : prints the names not defined (T/W/i) in the nm listing FILE.
missing_from() {
    local file=$1 n
    shift
    for n in "$@"; do
        grep -qE "^[0-9a-f]* *[TWi] $n(@.*)?\$" "$file" || printf '%s ' "$n"
    done
}

group_exports() {
    echo "== exports"
    local so=$B/libsnug.so list=$LOGS/exports-so.txt miss
    if [ ! -f "$so" ]; then
        fail exports/libsnug.so "$so is missing"
        return
    fi
    nm -D --defined-only "$so" >"$list" 2>&1
    # shellcheck disable=SC2086
    miss=$(missing_from "$list" $STD_NAMES)
    if [ -z "$miss" ]; then pass exports/libsnug.so-standard-names; else fail exports/libsnug.so-standard-names "missing: $miss"; fi
    miss=$(missing_from "$list" $(snug_names))
    if [ -n "$(snug_names)" ] && [ -z "$miss" ]; then pass exports/libsnug.so-snug-names; else fail exports/libsnug.so-snug-names "missing: ${miss:-(no snug_ names parsed from include/snug.h)}"; fi
    # the static full library defines the same names
    if [ -f "$B/libsnug.a" ]; then
        nm --defined-only "$B/libsnug.a" 2>/dev/null | grep -vE '^(.*:)?$' >"$LOGS/exports-a.txt"
        miss=$(missing_from "$LOGS/exports-a.txt" $STD_NAMES $(snug_names))
        if [ -z "$miss" ]; then pass exports/libsnug.a-all-names; else fail exports/libsnug.a-all-names "missing: $miss"; fi
    else
        fail exports/libsnug.a-all-names "$B/libsnug.a is missing"
    fi
    # the prefix-only library must not define the standard names (it links next to glibc's)
    if [ -f "$B/libsnug-prefix.a" ]; then
        nm --defined-only -g "$B/libsnug-prefix.a" 2>/dev/null >"$LOGS/exports-prefix.txt"
        local extra="" n
        for n in $STD_NAMES; do
            grep -qE "^[0-9a-f]* *[TWi] $n\$" "$LOGS/exports-prefix.txt" && extra="$extra$n "
        done
        miss=$(missing_from "$LOGS/exports-prefix.txt" $(snug_names))
        if [ -z "$extra" ] && [ -z "$miss" ]; then pass exports/libsnug-prefix.a-only-snug-names
        else fail exports/libsnug-prefix.a-only-snug-names "defines standard names: ${extra:-none}; missing snug names: ${miss:-none}"; fi
    else
        fail exports/libsnug-prefix.a-only-snug-names "$B/libsnug-prefix.a is missing"
    fi
}

group_package() {
    echo "== package (manual pages lint-clean, one version everywhere, make install/uninstall with DESTDIR, pkg-config)"
    local line
    while IFS= read -r line; do
        case $line in
        "PASS "*) pass "${line#PASS }" ;;
        "FAIL "*) fail "${line#FAIL }" ;;
        *) echo "$line" ;;
        esac
    done < <(B="$B" M32="$M32" MAKE="$MAKE" tests/package.sh 2>&1)
}

group_override() {
    echo "== override (linked with -lsnug, and LD_PRELOAD)"
    step build/override "$LOGS/build-override.log" $MAKE $PAR "$T/override-linked" "$T/override-plain" \
        "$T/override-cxx-linked" "$T/override-cxx-plain" "$T/override-cxx-replaced-linked" "$T/override-cxx-replaced-plain" || return
    run_harness override-linked 300 "$T/override-linked"
    run_harness override-preload 300 env LD_PRELOAD="$SNUG_SO" "$T/override-plain"
    run_harness override-cxx-linked 300 "$T/override-cxx-linked"
    run_harness override-cxx-preload 300 env LD_PRELOAD="$SNUG_SO" "$T/override-cxx-plain"
    run_harness override-cxx-replaced-linked 300 "$T/override-cxx-replaced-linked"
    run_harness override-cxx-replaced-preload 300 env LD_PRELOAD="$SNUG_SO" "$T/override-cxx-replaced-plain"
    # without snug the plain binary must notice (the test can fail)
    if ${RUN32:+"$RUN32"} "$T/override-plain" >"$LOGS/override-without-snug.log" 2>&1; then
        fail override/detects-missing-snug "override-plain passed without snug loaded"
    else
        pass override/detects-missing-snug
    fi
}

group_stress() {
    echo "== stress (threads; 512 at once: tests/stress/many.c)"
    step build/stress "$LOGS/build-stress.log" $MAKE $PAR "$T/stress-linked" "$T/stress-plain" \
        "$T/many-linked" "$T/many-plain" || return
    run_harness stress-linked 600 "$T/stress-linked"
    run_harness stress-preload 600 env LD_PRELOAD="$SNUG_SO" "$T/stress-plain"
    run_harness stress-thread-cache 600 env LD_PRELOAD="$SNUG_SO" SNUG_OPTIONS=thread_cache=2 "$T/stress-plain"
    # one allocation in 100 through the guard pool's lock and system calls (issue 17)
    run_harness stress-sampled 600 env LD_PRELOAD="$SNUG_SO" SNUG_OPTIONS=sample_rate=100 "$T/stress-plain"
    # 512 threads at once, 2560 in all, a fork mid-churn, RSS bounded after (issue 21): about 20 s each
    run_harness stress-many-linked 600 "$T/many-linked"
    run_harness stress-many-preload 600 env LD_PRELOAD="$SNUG_SO" "$T/many-plain"
}

# counts: the statistics build (make counts, src/counts.h) counts what a known workload does:
# the calls exactly (give or take start-up's), no lock and no shared atomic once a lone thread
# runs on its small pages (under 1 per 1000 calls: page refills and the sampler's guard pool
# remain), the fit lock on every single-threaded medium call, remote frees queued in batches
# (heap.c: a few atomics per RB_MAX = 32 frees to one heap, so between 1/64 and 1/4 per
# remote free) and next to none without them, mmap calls; and libsnug.so, without the counts, writes nothing.
counts_check() {    # counts_check NAME MODE THREADS ROUNDS PYTHON-CONDITION [SLACK: calls not the workload's own]
    local name=$1 mode=$2 threads=$3 rounds=$4 cond=$5 slack=${6:-500} out=$WORK/counts-$1.json
    rm -f "$out"
    if ! SNUG_COUNTS_OUT=$out LD_PRELOAD=$ROOT/$B/libsnug-counts.so $RUN32 "$T/counts-plain" "$mode" "$threads" "$rounds" \
            >"$LOGS/counts-$name.log" 2>&1; then
        fail "counts/$name" "the workload failed; see $LOGS/counts-$name.log"
        return
    fi
    if python3 - "$out" "$LOGS/counts-$name.log" "$cond" "$slack" >>"$LOGS/counts-$name.log" 2>&1 <<'PY'
import json, sys
c = json.loads(open(sys.argv[1]).read().splitlines()[-1])
calls = int(open(sys.argv[2]).read().split("calls ")[1].split()[0])
t, s = c["total"], c["steady"]
per1000 = lambda n: 1000.0 * n / max(s["ops"], 1)
lock = lambda name: t["locks"].get(name, [0, 0])[0]
print("calls", calls, "counts", json.dumps(c))
ok = calls <= t["ops"] <= calls + int(sys.argv[4]) and s["ops"] < t["ops"] and \
    t["lock_acquired"] + t["arena_acquired"] == sum(a for a, w in t["locks"].values()) and \
    t["lock_waited"] <= t["lock_acquired"] and eval(sys.argv[3])
sys.exit(0 if ok else 1)
PY
    then
        pass "counts/$name"
    else
        fail "counts/$name" "counts off (want: $cond); see $LOGS/counts-$name.log"
        show "$LOGS/counts-$name.log" 4
    fi
}

group_counts() {
    echo "== counts (the statistics build: build/libsnug-counts.so)"
    step build/counts "$LOGS/build-counts.log" $MAKE $PAR "$B/libsnug-counts.so" "$B/libsnug.so" \
        "$T/counts-plain" || return
    counts_check small-lone small 1 200000 'per1000(s["lock_acquired"]) < 1 and per1000(s["shared_rmw"]) < 1'
    # (a thread's medium blocks come from its cache, mostly; the rest take its own arena's
    # lock, counted apart from the global ones; without the cache, every one does.  On 32-bit
    # a head is two words, read under its arena's lock: the cache saves no lock there)
    local cached='s["arena_acquired"] < 0.25 * s["ops"] and '
    [ -n "$M32" ] && cached=
    counts_check medium-lone medium 1 50000 "${cached}per1000(s[\"lock_acquired\"]) < 1"
    SNUG_OPTIONS=thread_cache=0 counts_check medium-lone-no-cache medium 1 50000 \
        's["arena_acquired"] >= 0.5 * s["ops"] and per1000(s["lock_acquired"]) < 1'
    # (200000 remote frees: batched, well under one atomic each; about 19000 on an idle
    # machine, up to 52000 seen under load, when owners drain their lists more often)
    counts_check remote remote 4 50000 '50000 * 4 / 64 <= t["rmw_remote"] <= 50000 * 4 / 2'
    counts_check small-threads small 4 50000 'per1000(s["rmw_remote"]) < 0.1'
    # (a thread that only frees gets a heap and batches: a heapless one took one CAS and
    # two meter atomics per free, 50001 and 102118 here on dfb60f6; now about 4700 and 2100)
    counts_check consumer consumer 2 50000 't["rmw_remote"] <= 50000 / 4 and t["rmw_meter"] <= 50000 / 10'
    # (pages a thread's heap empties and fills again go through its arena's page stash:
    # on 6c92dd1, without it, arena 0's lock took 8 acquisitions per 1000 calls here)
    counts_check pages pages 2 409600 'per1000(s["lock_acquired"]) < 1'
    # (1.5 MiB of pages per thread, more than the stashes hold at first: their bound grows,
    # and arena 0's lock is left behind; with the bound fixed at twice the trim threshold,
    # on d909e31, it took 2.7-3.3 acquisitions per 1000 calls here; now about 0.04)
    counts_check bigpages bigpages 2 1966080 'per1000(s["lock_acquired"]) < 1'
    # (4000 threads started and joined two at a time, each with a few small and medium
    # blocks: arenas_lock only while arenas are made and heaps_lock only while heaps are,
    # 4000 and 8010 times on d909e31; pthread_create's own allocations, about 18 calls a
    # thread, are not the workload's; under qemu-user a thread's exit lags behind the next
    # start, which then makes a heap more often: 18-32 times here, at 82958c4 too)
    local heaps_max=16
    [ -n "$RUN32" ] && heaps_max=64
    counts_check starts starts 2 4000 "lock(\"arenas_lock\") <= 8 and lock(\"heaps_lock\") <= $heaps_max" 200000
    counts_check large large 1 2000 't["mmap"] + t["munmap"] + t["mremap"] + t["madvise"] >= 1'
    local out=$WORK/counts-plain-lib.json
    rm -f "$out"
    SNUG_COUNTS_OUT=$out LD_PRELOAD=$SNUG_SO $RUN32 "$T/counts-plain" small 1 1000 >/dev/null 2>&1
    if [ -e "$out" ]; then
        fail counts/none-without "libsnug.so wrote $out: the counts are compiled in"
    else
        pass counts/none-without
    fi
}

# Every TSan report fails the check it happened in (exit status 66); the reports' SUMMARY
# lines are listed under the failure.  tsan_run GROUP [env...]
tsan_run() {
    local group=$1
    shift
    run_harness "$group" 600 env TSAN_OPTIONS=halt_on_error=0:exitcode=66:history_size=4 "$@" "$T/tsan"
    local n
    n=$(grep -c '^WARNING: ThreadSanitizer' "$LOGS/$group.log")
    if [ "$n" != 0 ]; then
        fail "$group/no-reports" "$n ThreadSanitizer reports; see $LOGS/$group.log"
        grep '^SUMMARY: ThreadSanitizer' "$LOGS/$group.log" | sort | uniq -c | sort -rn | head -n 20 | sed 's/^/    | /'
    else
        pass "$group/no-reports"
    fi
}

group_tsan() {
    echo "== tsan (threads on the snug_ API under ThreadSanitizer, libsnug-tsan.a: no report)"
    if [ -n "$M32" ]; then
        skip tsan "ThreadSanitizer supports 64-bit targets only"
        return
    fi
    step build/tsan "$LOGS/build-tsan.log" $MAKE $PAR "$T/tsan" || return
    # no report means something only if the library's accesses are instrumented
    if nm "$B/libsnug-tsan.a" 2>/dev/null | grep -q ' U __tsan_write8$'; then pass tsan/library-instrumented
    else fail tsan/library-instrumented "$B/libsnug-tsan.a calls no __tsan_write8"; fi
    tsan_run tsan
    tsan_run tsan-thread-cache SNUG_OPTIONS=thread_cache=2
    # one allocation in 5 through the guard pool, whose free slots wait in a queue without a lock
    tsan_run tsan-sampled SNUG_OPTIONS=sample_rate=5
}

group_exhaust() {
    echo "== exhaust (RLIMIT_AS, RLIMIT_DATA; default and secure mode)"
    if [ -n "$RUN32" ]; then skip exhaust "qemu-i386 does not apply the program's RLIMIT_AS"; return; fi
    step build/exhaust "$LOGS/build-exhaust.log" $MAKE "$T/exhaust" || return
    run_harness exhaust 600 "$T/exhaust"
    run_harness exhaust-secure 600 env SNUG_OPTIONS=secure "$T/exhaust"
}

group_regions() {
    echo "== regions (sbrk shrink, mmap regions when brk is blocked, foreign sbrk)"
    step build/regions "$LOGS/build-regions.log" $MAKE "$T/regions" || return
    run_harness regions 300 "$T/regions"
}

group_gc() {
    echo "== gc (implicit allocator: Criterion on libsnug-prefix.a and ASan, harness on libsnug.so)"
    if [ -n "$RUN32" ]; then
        skip gc "under qemu-i386 7.2 the collector's thread stops hang and a fork with threads aborts"
        return
    fi
    if step build/gc "$LOGS/build-gc.log" $MAKE $PAR "$T/gc" "$T/gc-linked"; then
        run_criterion gc "$T/gc"
        run_harness gc-linked 900 "$T/gc-linked"
    fi
    # the collector scans real stacks: ASan's fake stacks would hide locals from it
    if [ -n "$M32" ]; then
        # In a 4 GiB address space full of ASan's runtime data, pointer-like words
        # falsely retain blocks often enough to break the exact reclaim checks.
        skip gc-asan "32-bit ASan: conservative false retention makes the reclaim checks unreliable (the plain 32-bit gc group runs them)"
        return
    fi
    step build/gc-asan "$LOGS/build-gc-asan.log" $MAKE $PAR "$T/gc-asan" &&
        run_criterion gc-asan "$T/gc-asan" \
            ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1:halt_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
}

group_forkrace() {
    echo "== forkrace (fork while other threads allocate: consistent child heaps)"
    step build/forkrace "$LOGS/build-forkrace.log" $MAKE "$T/forkrace" || return
    run_harness forkrace 300 "$T/forkrace"
    run_harness forkrace-sampled 300 env SNUG_OPTIONS=sample_rate=10 "$T/forkrace"
}

group_secure() {
    echo "== secure (SNUG_OPTIONS=secure: canaries, fill checks, guard pages, zero-size faults)"
    step build/secure "$LOGS/build-secure.log" $MAKE "$T/secure" || return
    run_harness secure 300 env SNUG_OPTIONS=secure "$T/secure"
}

group_faults() {
    echo "== faults (heap misuse ends the program: SIGABRT after one 'snug: ' line naming fault and address)"
    step build/faults "$LOGS/build-faults.log" $MAKE $PAR "$T/faults" "$T/faults-plain" || return
    run_harness faults-linked 300 "$T/faults"
    run_harness faults-preload 300 env LD_PRELOAD="$SNUG_SO" "$T/faults-plain"
    # medium frees through a thread cache in a single-threaded program too (by default only with threads)
    run_harness faults-thread-cache 300 env LD_PRELOAD="$SNUG_SO" SNUG_OPTIONS=thread_cache=2 \
        "$T/faults-plain" df- inv- ovf-medium udf-medium cache-
    # the page-header attacks again in secure mode (one shared heap, quarantined frees)
    run_harness faults-secure-attacks 300 env LD_PRELOAD="$SNUG_SO" SNUG_OPTIONS=secure "$T/faults-plain" atk-
    # sampled guarded allocations, every allocation sampled (issue 17)
    run_harness faults-guard-linked 300 env SNUG_OPTIONS=sample_rate=1 "$T/faults" guard-
    run_harness faults-guard-preload 300 env LD_PRELOAD="$SNUG_SO" SNUG_OPTIONS=sample_rate=1 "$T/faults-plain" guard-
}

group_inject() {
    echo "== inject (sbrk/mmap fail after N requests: NULL + ENOMEM, blocks intact, heap check, recovery)"
    step build/inject "$LOGS/build-inject.log" $MAKE "$T/inject" || return
    run_harness inject 600 "$T/inject"
}

# vg_run NAME WANT VALGRIND-OPTIONS CMD...: WANT=seen (memcheck reports both bugs of
# tests/valgrind/vg.c, exit status 42) or unseen (memcheck does not see the blocks at all).
vg_run() {
    local name=$1 want=$2 opts=$3 log=$LOGS/valgrind-$1.log rc=0 miss=""
    shift 3
    # shellcheck disable=SC2086
    timeout -k 10 300 valgrind $opts --leak-check=full --error-exitcode=42 "$@" >"$log" 2>&1 || rc=$?
    grep -q '^vg: done' "$log" || miss="$miss the program's own output;"
    if [ "$want" = seen ]; then
        grep -q 'Invalid read of size 1' "$log" || miss="$miss 'Invalid read of size 1';"
        grep -q "0 bytes after a block of size 100 alloc'd" "$log" || miss="$miss 'block of size 100';"
        grep -qE '12,345 bytes in 1 blocks are definitely lost' "$log" || miss="$miss '12,345 bytes definitely lost';"
        [ "$rc" = 42 ] || miss="$miss exit status 42 (got $rc);"
    elif grep -qE '12,345 bytes in 1 blocks are definitely lost|Invalid read' "$log"; then
        miss="$miss memcheck saw blocks it does not replace;"
    fi
    if [ -z "$miss" ]; then pass "valgrind/$name"; else fail "valgrind/$name" "wrong:$miss see $log"; show "$log" 20; fi
}

group_valgrind() {
    echo "== valgrind (memcheck replaces snug's malloc: --soname-synonyms=somalloc=libsnug*, =NONE when static)"
    if ! command -v valgrind >/dev/null; then
        fail valgrind "valgrind is not installed (tests/deps.sh installs it)"
        return
    fi
    if [ -n "$M32" ]; then
        skip valgrind "32-bit memcheck needs libc6-dbg:i386 (an i386 multiarch install deps.sh does not make)"
        return
    fi
    step build/vg "$LOGS/build-vg.log" $MAKE $PAR "$T/vg" "$T/vg-static" || return
    vg_run linked-lsnug seen '--soname-synonyms=somalloc=libsnug*' "$T/vg"
    vg_run static-libsnug.a seen --soname-synonyms=somalloc=NONE "$T/vg-static"
    # control: snug_malloc/snug_free are not replaced, so memcheck cannot see their blocks
    vg_run prefixed-api-not-replaced unseen '--soname-synonyms=somalloc=libsnug*' "$T/vg" prefixed
}

group_soak() {
    local secs=${SOAK_SECONDS:-10}
    echo "== soak (${secs} s server-like run on libsnug.so: payloads intact, RSS flat after warm-up; make soak: 300 s)"
    step build/soak "$LOGS/build-soak.log" $MAKE "$T/soak" || return
    SOAK_SECONDS=$secs run_harness soak $((secs + 300)) "$T/soak"
    grep -E '^# (rss-bounded|end):' "$LOGS/soak.log" | sed 's/^#/   /'
}

group_fuzz() {
    echo "== fuzz (libFuzzer: operation sequences on the snug_* API against a model, heap check after every step)"
    # (32-bit ASan under qemu-user reports crashes of its own: "unknown-crash" near 0xfffe0000,
    # at 82958c4 as now, within 8000-11000 runs of the same seed)
    if [ -n "$RUN32" ]; then skip fuzz "ASan under qemu-i386 is not reliable here; run natively"; return; fi
    step build/fuzz "$LOGS/build-fuzz.log" $MAKE $PAR "$T/fuzz-snug" || return
    local log=$LOGS/fuzz.log secs=${FUZZ_SECONDS:-25} rc=0
    timeout -k 10 $((secs + 120)) $MAKE --no-print-directory fuzz FUZZ_SECONDS="$secs" >"$log" 2>&1 || rc=$?
    if [ "$rc" = 0 ] && grep -q '^Done [0-9]* runs' "$log"; then
        pass "fuzz/libfuzzer-${secs}s"
        echo "    $(grep '^Done [0-9]* runs' "$log" | tail -n 1); corpus $B/fuzz/corpus"
    else
        fail "fuzz/libfuzzer-${secs}s" "exit status $rc; see $log (reproducer: $T/fuzz-snug CRASHFILE)"
        grep -E '^fuzz:|^snug:|ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -n 12 | sed 's/^/    | /'
    fi
}

# compare NAME CMD... : stdout and exit status with and without snug preloaded.
# CMD may use $RUN (plain / snug) to keep scratch paths apart.
compare() {
    local name=$1
    shift
    local base=$LOGS/prog-$name rc1=0 rc2=0
    RUN=plain timeout -k 10 300 "$@" >"$base.plain.out" 2>"$base.plain.err" || rc1=$?
    RUN=snug timeout -k 10 300 env LD_PRELOAD="$SNUG_SO" "$@" >"$base.snug.out" 2>"$base.snug.err" || rc2=$?
    if grep -q 'cannot be preloaded' "$base.snug.err"; then
        fail "programs/$name" "the loader did not preload $SNUG_SO"
        show "$base.snug.err" 5
    elif [ "$rc1" != "$rc2" ]; then
        fail "programs/$name" "exit status $rc1 without snug, $rc2 with snug"
        show "$base.snug.err" 15
    elif ! cmp -s "$base.plain.out" "$base.snug.out"; then
        fail "programs/$name" "stdout differs with snug (diff $base.plain.out $base.snug.out)"
        diff "$base.plain.out" "$base.snug.out" | head -n 15 | sed 's/^/    | /'
        show "$base.snug.err" 10
    elif [ "$rc1" != 0 ]; then
        fail "programs/$name" "the workload itself fails (exit status $rc1 without snug too)"
        show "$base.plain.err" 10
    elif [ ! -s "$base.plain.out" ]; then
        fail "programs/$name" "the workload printed nothing"
    else
        pass "programs/$name"
    fi
}

group_programs() {
    echo "== programs (real programs under LD_PRELOAD)"
    if [ -n "$M32" ]; then
        skip programs "the system's programs are 64-bit and cannot load a 32-bit libsnug.so"
        return
    fi
    if [ ! -f "$SNUG_SO" ]; then
        fail programs "$SNUG_SO is missing"
        return
    fi
    local P=tests/programs
    # snug really is in the process under LD_PRELOAD
    if LD_PRELOAD="$SNUG_SO" /usr/bin/python3 -I -c 'import ctypes; ctypes.CDLL(None).snug_stats' \
        >"$LOGS/prog-preload-active.log" 2>&1; then
        pass programs/preload-active
    else
        fail programs/preload-active "snug_stats is not visible in a preloaded python3"
        show "$LOGS/prog-preload-active.log" 10
    fi
    PYTHONMALLOC=malloc PYTHONHASHSEED=0 compare python3 /usr/bin/python3 -I $P/workload.py
    compare sqlite3 sh -c "rm -f $WORK/\$RUN.db && sqlite3 $WORK/\$RUN.db < $P/workload.sql"
    PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 compare perl perl $P/workload.pl
    compare git sh -c "rm -rf $WORK/git-\$RUN $WORK/git-\$RUN.home && $P/git.sh $ROOT/$WORK/git-\$RUN"
    compare g++ sh -c "g++ -O2 -std=c++17 -frandom-seed=snug -o $WORK/stl-\$RUN $P/stl.cpp && echo compiled"
    if [ -f "$WORK/stl-plain" ] && [ -f "$WORK/stl-snug" ]; then
        if cmp -s "$WORK/stl-plain" "$WORK/stl-snug"; then
            pass programs/g++-same-binary
        else
            fail programs/g++-same-binary "g++ under snug produced a different executable than without"
        fi
        compare g++-program sh -c "$WORK/stl-\$RUN"
    else
        fail programs/g++-program "no executable to run"
    fi
}

# options: SNUG_OPTIONS=help lists options.h's table (and README.md and man/snug.3 list the same
# names), verbose speaks for a program that never allocates, stats prints at exit, the
# statistics ABI holds for a caller built against the first struct snug_stats.
opt_names() { sed -n 's/^ *X(\([a-z_]*\), SNUG_OPT_.*/\1/p' src/options.h | sort; }
# opt_run NAME OPTIONS ARGS... : the options program under LD_PRELOAD; stderr in $LOGS/options-NAME.err
opt_run() {
    local name=$1 opts=$2
    shift 2
    SNUG_OPTIONS=$opts timeout -k 10 60 ${RUN32:+"$RUN32"} env LD_PRELOAD="$SNUG_SO" "$T/options-prog" "$@" \
        >"$LOGS/options-$name.out" 2>"$LOGS/options-$name.err"
}
# opt_expect NAME WHY CONDITION... : pass, or fail with WHY and the stderr of NAME's run
opt_expect() {
    local name=$1 why=$2
    shift 2
    if "$@"; then pass "options/$name"; else fail "options/$name" "$why"; show "$LOGS/options-$name.err" 20; fi
}
has() { grep -qxF -- "$2" "$LOGS/options-$1.err"; }

group_options() {
    echo "== options (SNUG_OPTIONS help, verbose, stats at exit; the snug_stats ABI)"
    step build/options "$LOGS/build-options.log" $MAKE $PAR "$T/options-prog" "$T/stats-abi" || return
    local names n miss="" rc
    names=$(opt_names)
    [ "$(echo "$names" | wc -l)" -ge 10 ] || { fail options/table "no option names parsed from src/options.h"; return; }
    rc=0; opt_run help help noalloc || rc=$?
    for n in $names; do grep -qE "^snug:   $n(=[A-Z]+)? +default " "$LOGS/options-help.err" || miss="$miss $n"; done
    opt_expect help "exit status $rc, stdout '$(cat "$LOGS/options-help.out")', names not listed:${miss:- none}" \
        test "$rc" = 0 -a -z "$miss" -a "$(cat "$LOGS/options-help.out")" = ran
    # the documentation lists the same names (README.md's table, man/snug.3's list)
    local readme man
    readme=$(sed -n '/^## Options/,/^## /s/^| `\([a-z_]*\)[`=/ ].*/\1/p' README.md | sort -u)
    man=$(sed -n '/^\.It Ev SNUG_OPTIONS/,/^\.El/s/^\.It Cm \([a-z_]*\).*/\1/p' man/snug.3 | sort -u)
    if [ "$readme" = "$names" ] && [ "$man" = "$names" ]; then pass options/documented
    else fail options/documented "src/options.h: $(echo $names); README.md: $(echo $readme); man/snug.3: $(echo $man)"; fi
    # verbose (and stats) for a program that never allocates: printed without starting snug up
    rc=0; opt_run verbose-never-allocating verbose,decay_ms=0,mmap_threshold=1m,stats noalloc || rc=$?
    opt_expect verbose-never-allocating "exit status $rc; wanted the version first, the build mode, set and default values, nothing held" \
        eval "[ $rc = 0 ] && [ \"\$(head -n 1 $LOGS/options-verbose-never-allocating.err)\" = 'snug: version $(sed -n 's/^#define SNUG_VERSION_STRING "\(.*\)"/\1/p' include/snug.h)' ] &&
              has verbose-never-allocating 'snug: build: checks on, secure mode off by default' &&
              has verbose-never-allocating 'snug: option decay_ms = 0 ms (set)' && has verbose-never-allocating 'snug: option mmap_threshold = 1 MiB (set)' &&
              has verbose-never-allocating 'snug: option trim_threshold = 192 KiB (default)' && has verbose-never-allocating 'snug: option secure = off (default)' &&
              has verbose-never-allocating 'held peak               = 0'"
    # stats at exit: the live peak is at least the block the program held; utilization printed
    rc=0; opt_run stats-at-exit stats peak 3000000 || rc=$?
    local peak held
    peak=$(sed -n 's/^live peak *= \([0-9]*\).*/\1/p' "$LOGS/options-stats-at-exit.err")
    held=$(sed -n 's/^held peak *= \([0-9]*\).*/\1/p' "$LOGS/options-stats-at-exit.err")
    opt_expect stats-at-exit "exit status $rc, live peak '$peak', held peak '$held'" \
        eval "[ $rc = 0 ] && [ \"\${peak:-0}\" -ge 3000000 ] && [ \"\${held:-0}\" -ge \"\${peak:-1}\" ] &&
              grep -qE '^snug [0-9.]+ heap statistics \(at exit, pid [0-9]+\):$' $LOGS/options-stats-at-exit.err &&
              grep -qE '^utilization += [0-9]+\.[0-9]% \(live peak / held peak\)$' $LOGS/options-stats-at-exit.err"
    # a program that allocates one small block holds little: region 0's records and a page or two
    # (16 KiB; 28 KiB before region 0 started at one page of blocks rather than four).  64-bit
    # brk heaps only: a 32-bit run may be in qemu, whose brk snug may not use (region 0 is then a
    # mapping carrying its own page map)
    if [ -z "$M32" ]; then
        rc=0; opt_run small-program-holds-little stats peak 100 || rc=$?
        held=$(sed -n 's/^held peak *= \([0-9]*\).*/\1/p' "$LOGS/options-small-program-holds-little.err")
        opt_expect small-program-holds-little "exit status $rc, held peak '$held' bytes, wanted at most 16384" \
            eval "[ $rc = 0 ] && [ -n \"$held\" ] && [ \"$held\" -le 16384 ]"
    fi
    # no stats unless asked; bad entries reported, the rest still applied
    rc=0; opt_run no-stats-unless-asked "" peak 1000 || rc=$?
    opt_expect no-stats-unless-asked "exit status $rc, wanted an empty stderr" test "$rc" = 0 -a ! -s "$LOGS/options-no-stats-unless-asked.err"
    rc=0; opt_run bad-entries "foo,verbose=2,decay_ms=x,noverbose,verbose,nodecay_ms,top_pad=1k" noalloc || rc=$?
    opt_expect bad-entries "exit status $rc; wanted one line per bad entry and top_pad set" \
        eval "[ $rc = 0 ] && has bad-entries \"snug: SNUG_OPTIONS: unknown option 'foo'\" &&
              has bad-entries \"snug: SNUG_OPTIONS: bad value in 'verbose=2'\" && has bad-entries \"snug: SNUG_OPTIONS: bad value in 'decay_ms=x'\" &&
              has bad-entries \"snug: SNUG_OPTIONS: unknown option 'nodecay_ms'\" && has bad-entries 'snug: option top_pad = 1 KiB (set)'"
    if [ -z "$M32" ]; then
        rc=0
        SNUG_OPTIONS=stats LD_PRELOAD="$SNUG_SO" timeout 60 /usr/bin/python3 -I -c pass >"$LOGS/options-python.out" 2>"$LOGS/options-python.err" || rc=$?
        opt_expect stats-python3 "exit status $rc; wanted one statistics block" \
            test "$rc" = 0 -a "$(grep -c 'heap statistics (at exit' "$LOGS/options-python.err")" = 1
    fi
    run_harness stats-abi 120 env SNUG_OPTIONS=sample_rate=1 "$T/stats-abi"
}

# ---------------------------------------------------------------------------------------------
ALL="build layers contract asan exports package options override stress counts tsan exhaust regions forkrace secure faults inject fuzz valgrind soak gc programs tools traces"
# Scripts that print their own PASS/SKIP/FAIL lines (tools.sh, traces.sh): counted here.
count_lines() {
    while IFS= read -r line; do
        case $line in
        "PASS "*) pass "${line#PASS }" ;;
        "SKIP "*) line=${line#SKIP }; skip "${line%%: *}" "${line#*: }" ;;
        "FAIL "*) fail "${line#FAIL }" ;;
        *) echo "$line" ;;
        esac
    done
}
GROUPS_TO_RUN=${*:-$ALL}
for g in $GROUPS_TO_RUN; do
    case " $ALL " in
    *" $g "*) ;;
    *) echo "unknown group $g (groups: $ALL)"; exit 2 ;;
    esac
    if [ "$g" = tools ]; then
        echo "== tools (snug-gen's options, the allocator snug-replay names, SNUG_TRACE_ONLY, exec, external fragmentation)"
        step build/tools-for-tools "$LOGS/build-tools-group.log" $MAKE $PAR tools libs || continue
        count_lines < <(B="$B" tests/tools.sh 2>&1)
        continue
    fi
    if [ "$g" = traces ]; then
        echo "== traces (snug-replay-debug --check and snug-replay over every trace)"
        count_lines < <(MAKE="$MAKE" tests/traces.sh 2>&1)
        continue
    fi
    "group_$g"
done
echo "== done in $(($(date +%s) - START)) s; logs in $LOGS"
if [ "$SKIPPED" != 0 ]; then echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"; else echo "$PASSED passed, $FAILED failed"; fi
[ "$FAILED" = 0 ]
