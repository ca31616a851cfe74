#!/usr/bin/env bash
# deps.sh - the Debian packages `make bench` uses: the peer allocators (jemalloc, mimalloc,
# tcmalloc), valgrind (instruction counts), the programs it times, and bdwgc (libgc-dev:
# the peer of snug's collector).  As root it runs `apt-get update` once and installs what
# is missing; otherwise it prints the apt-get line and carries on (bench.py skips what it
# cannot find).
set -u
PKGS="libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 valgrind python3 sqlite3 g++ libgc-dev"
missing=""
for p in $PKGS; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "bench/deps.sh: missing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "bench/deps.sh: not root; install them with:"
    echo "    sudo apt-get update && sudo apt-get install -y$missing"
    echo "bench/deps.sh: continuing without them"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >/tmp/snug-bench-apt-update.log 2>&1; then
    tail -n 20 /tmp/snug-bench-apt-update.log
    echo "bench/deps.sh: apt-get update failed; continuing without:$missing"
    exit 0
fi
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing; then
    echo "bench/deps.sh: apt-get install -y$missing failed; continuing without them"
fi
exit 0
