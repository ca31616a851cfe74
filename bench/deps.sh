#!/usr/bin/env bash
# deps.sh - the Debian packages `make bench` uses: the peer allocators (jemalloc, mimalloc,
# tcmalloc), valgrind (instruction counts), the programs it times, and bdwgc (libgc-dev:
# the peer of snug's collector).  As root it runs `apt-get update` once and installs what
# is missing; otherwise it prints the apt-get line and carries on (bench.py skips what it
# cannot find).
set -u
PKGS="libjemalloc2 libmimalloc2.0 libtcmalloc-minimal4 valgrind python3 sqlite3 g++ libgc-dev"
exec "$(dirname "$0")/../tools/need-debs.sh" bench/deps.sh lenient $PKGS
