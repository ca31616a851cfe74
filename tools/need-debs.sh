#!/usr/bin/env bash
# need-debs.sh - installs the Debian packages a make target needs: checks each with dpkg; as
# root runs `apt-get update` once and `apt-get install -y` for the missing ones; otherwise
# prints the apt-get line.  Usage: need-debs.sh NAME strict|lenient PKG...
# strict: exit 1 when something stays missing (tests); lenient: always exit 0 (bench).
set -u
name=$1 mode=$2
shift 2
missing=""
for p in "$@"; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "$name: missing Debian packages:$missing"
give_up() {
    echo "$name: $1"
    if [ "$mode" = strict ]; then echo "FAIL deps: $1"; exit 1; fi
    echo "$name: continuing without:$missing"
    exit 0
}
if [ "$(id -u)" != 0 ]; then
    echo "$name: not root; install them with:"
    echo "    sudo apt-get update && sudo apt-get install -y$missing"
    give_up "missing packages:$missing"
fi
export DEBIAN_FRONTEND=noninteractive
log=/tmp/snug-apt-update.$$.log
if ! apt-get update -q >"$log" 2>&1; then
    tail -n 20 "$log"
    give_up "apt-get update failed"
fi
rm -f "$log"
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing || give_up "apt-get install -y$missing failed"
exit 0
