#!/bin/sh
# run-suite.sh - `make run`: replays every suite trace under snug and under the system
# allocator (glibc), prints one row per trace plus averages; exits non-zero when
# either replay found a correctness error.  Usage: run-suite.sh BUILD_DIR TRACE...
set -eu
B=$1
shift
REPS=${RUN_REPS:-10}
out=$B/run
mkdir -p "$out"

st_snug=0
st_sys=0
"$B/snug-replay" --json -n "$REPS" "$@" > "$out/snug.json" || st_snug=$?
"$B/snug-replay" --system --json -n "$REPS" "$@" > "$out/system.json" || st_sys=$?

awk -v outdir="$out" -v reps="$REPS" '
function num(line, key,    m) {
    if (match(line, "\"" key "\": [-0-9.e+]+")) {
        m = substr(line, RSTART, RLENGTH)
        sub(/^[^:]*: /, "", m)
        return m + 0
    }
    return -1
}
function str(line, key,    m) {
    if (match(line, "\"" key "\": \"[^\"]*\"")) {
        m = substr(line, RSTART, RLENGTH)
        sub(/^[^:]*: "/, "", m)
        sub(/"$/, "", m)
        return m
    }
    return ""
}
FNR == 1 { file++ }
/^\{"trace":/ {
    name = str($0, "path")
    sub(/.*\/traces\//, "", name)
    if (file == 1) { order[++n] = name }
    if ($0 ~ /"ok": false/) { ok[file, name] = 0; next }
    ok[file, name] = 1
    ops[name] = num($0, "ops")
    util[file, name] = num($0, "util")
    ifrag[file, name] = num($0, "ifrag")
    efrag[file, name] = num($0, "efrag")    # -1 (null) where it cannot be known
    urss[file, name] = (num($0, "heap_rss") > 0) ? num($0, "peak_payload") / num($0, "heap_rss") : 0
    tput[file, name] = num($0, "ops_per_sec")
    secs[file, name] = num($0, "best_secs")
    errs[file, name] = num($0, "errors")
}
END {
    printf "%-22s %8s | %-38s | %-16s |\n", "", "", "snug", "glibc"
    printf "%-22s %8s | %6s %6s %7s %6s %9s | %6s %9s | %6s\n", "trace", "ops", \
        "util%", "rss-u%", "ifrag%", "efrag%", "Kops/s", "rss-u%", "Kops/s", "errors"
    for (i = 1; i <= n; i++) {
        t = order[i]
        line = sprintf("%-22.22s %8d |", t, ops[t])
        if (ok[1, t]) {
            line = line sprintf(" %6.1f %6.1f %7.1f %6s %9.0f |", 100 * util[1, t], 100 * urss[1, t], 100 * ifrag[1, t], \
                efrag[1, t] < 0 ? "n/a" : sprintf("%.1f", 100 * efrag[1, t]), tput[1, t] / 1e3)
            su += util[1, t]; sr += urss[1, t]; sf += ifrag[1, t]; ns++
            if (efrag[1, t] >= 0) { se += efrag[1, t]; ne++ }
            sops1 += ops[t]; ssec1 += secs[1, t]
        } else {
            line = line sprintf(" %-38s |", "FAILED (see above)")
        }
        if (ok[2, t]) {
            line = line sprintf(" %6.1f %9.0f |", 100 * util[2, t], tput[2, t] / 1e3)
            gu += util[2, t]; ng++
            sops2 += ops[t]; ssec2 += secs[2, t]
        } else {
            line = line sprintf(" %-16s |", "FAILED")
        }
        e = (ok[1, t] ? errs[1, t] : 1) + (ok[2, t] ? errs[2, t] : 1)
        totale += e
        print line sprintf(" %6d", e)
    }
    printf "%-22s %8s | %6.1f %6.1f %7.1f %6.1f %9.0f | %6.1f %9.0f | %6d\n", "average", "", \
        (ns ? 100 * su / ns : 0), (ns ? 100 * sr / ns : 0), (ns ? 100 * sf / ns : 0), (ne ? 100 * se / ne : 0), \
        (ssec1 > 0 ? sops1 / ssec1 / 1e3 : 0), (ng ? 100 * gu / ng : 0), \
        (ssec2 > 0 ? sops2 / ssec2 / 1e3 : 0), totale
    print ""
    print "util% = peak live payload / heap high-water H, with H from snug_stats() (heap_peak"
    print "growth); rss-u%: the same with H = growth of RssAnon, the only measure for glibc."
    print "ifrag% = (usable - payload) / H at the payload peak; efrag% = 1 - largest free block / free"
    print "bytes in the heap at the payload peak (snug_heap_walk; README.md).  Kops/s: fastest of " reps " timing"
    print "runs; the average row: mean of the utilizations, all ops / all time for Kops/s."
    print "Details: " outdir "/{snug,system}.json"
}' "$out/snug.json" "$out/system.json"

if [ "$st_snug" -ne 0 ] || [ "$st_sys" -ne 0 ]; then
    echo "run-suite: errors found (snug-replay exit $st_snug, system exit $st_sys)" >&2
    exit 1
fi
