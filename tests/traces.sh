#!/usr/bin/env bash
# traces.sh - the heap checker over traces: builds the trace suite (tools/tools.mk `suite`),
# then runs `snug-replay-debug --check` (also with the thread caches forced on) and
# `snug-replay` (also with every allocation sampled into the guard pool) over every bundled (traces/) and generated (build/traces/) trace; prints
# PASS/FAIL lines for tests/run.sh to count.
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
B=${B:-build}
LOGS=$B/tests/logs/traces
mkdir -p "$LOGS"

if ! grep -qE '^suite:' tools/tools.mk 2>/dev/null; then
    echo "FAIL traces/build-suite: tools/tools.mk has no 'suite' target yet (the tools are not there)"
    exit 0
fi
if $MAKE suite >"$LOGS/build-suite.log" 2>&1; then
    echo "PASS traces/build-suite"
else
    echo "FAIL traces/build-suite: make suite failed, see $LOGS/build-suite.log"
    tail -n 20 "$LOGS/build-suite.log" | sed 's/^/    | /'
fi
ok=1
for tool in snug-replay-debug snug-replay; do
    if [ ! -x "$B/$tool" ]; then
        echo "FAIL traces/$tool: $B/$tool is missing"
        ok=0
    fi
done
[ $ok = 1 ] || exit 0

# the suite: bundled traces (traces/*.rep.xz, decompressed by `make suite` into build/traces/)
# and generated ones (build/traces/gen/); every bundled one must have been decompressed
traces=()
for f in "$B"/traces/*.rep "$B"/traces/gen/*.rep; do
    [ -f "$f" ] && traces+=("$f")
done
for x in traces/*.rep.xz; do
    [ -f "$x" ] || continue
    base=$(basename "$x" .xz)
    [ -f "$B/traces/$base" ] || echo "FAIL traces/bundled/$base: $x was not decompressed into $B/traces/"
done
if [ ${#traces[@]} = 0 ]; then
    echo "FAIL traces/suite: no trace in $B/traces/ after make suite"
    exit 0
fi
for f in "${traces[@]}"; do
    name=${f#"$B"/}
    log=$LOGS/$(echo "$name" | tr '/' '_')
    if [ -n "${RUN32:-}" ] && [[ $name != traces/gen/* ]]; then
        # a heap check after every request of a recorded trace takes far too long under qemu
        echo "SKIP traces/check/$name: --check of a recorded trace is too slow under qemu-i386 (the replay runs)"
    elif timeout -k 10 300 ${RUN32:+"$RUN32"} "$B/snug-replay-debug" --check -n 0 "$f" >"$log.check.log" 2>&1; then
        echo "PASS traces/check/$name"
    else
        echo "FAIL traces/check/$name: snug-replay-debug --check exit status $?, see $log.check.log"
        tail -n 8 "$log.check.log" | sed 's/^/    | /'
    fi
    # the same with medium frees through a thread cache (on by default only in a process with threads)
    if [ -n "${RUN32:-}" ] && [[ $name != traces/gen/* ]]; then
        :
    elif SNUG_OPTIONS=thread_cache=2 timeout -k 10 300 ${RUN32:+"$RUN32"} "$B/snug-replay-debug" --check -n 0 "$f" >"$log.cache.log" 2>&1; then
        echo "PASS traces/check-thread-cache/$name"
    else
        echo "FAIL traces/check-thread-cache/$name: snug-replay-debug --check exit status $?, see $log.cache.log"
        tail -n 8 "$log.cache.log" | sed 's/^/    | /'
    fi
    if timeout -k 10 300 ${RUN32:+"$RUN32"} "$B/snug-replay" -n 0 "$f" >"$log.replay.log" 2>&1; then
        echo "PASS traces/replay/$name"
    else
        echo "FAIL traces/replay/$name: snug-replay exit status $?, see $log.replay.log"
        tail -n 8 "$log.replay.log" | sed 's/^/    | /'
    fi
    # every allocation sampled into the guard pool while it has a free slot (issue 17)
    if SNUG_OPTIONS=sample_rate=1 timeout -k 10 300 ${RUN32:+"$RUN32"} "$B/snug-replay" -n 0 "$f" >"$log.sampled.log" 2>&1; then
        echo "PASS traces/replay-sampled/$name"
    else
        echo "FAIL traces/replay-sampled/$name: snug-replay exit status $?, see $log.sampled.log"
        tail -n 8 "$log.sampled.log" | sed 's/^/    | /'
    fi
done
