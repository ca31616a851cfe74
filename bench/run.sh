#!/usr/bin/env bash
# run.sh - `make bench` without make: builds what the benchmarks need (unless --no-build),
# then runs bench/bench.py.  Usage: bench/run.sh [--quick] [--no-build] [bench.py options]
#   --quick      the one-minute version; results in build/bench/quick/ (the committed
#                bench/results/ come from full runs only)
#   --suites S   comma-separated subset of traces,mt,counts,programs,micro,gc,series
#   --out DIR    results directory
set -eu
cd "$(dirname "$0")/.."
build=1
args=()
for a in "$@"; do
    case "$a" in
        --no-build) build=0 ;;
        *) args+=("$a") ;;
    esac
done
if [ "$build" = 1 ]; then
    bench/deps.sh
    ${MAKE:-make} --no-print-directory libs tools suite bench-bins
fi
export PYTHONDONTWRITEBYTECODE=1
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" bench/bench.py ${args[@]+"${args[@]}"}
