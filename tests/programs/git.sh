#!/usr/bin/env bash
# git.sh - a git workload for the real-program test: init, add, commit, log, diff, gc in a
# scratch repository ($1, created fresh); fixed identities and dates make the output stable.
set -e
repo=$1
export HOME=$repo.home GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=Snug GIT_AUTHOR_EMAIL=snug@example.invalid
export GIT_COMMITTER_NAME=Snug GIT_COMMITTER_EMAIL=snug@example.invalid TZ=UTC LC_ALL=C
mkdir -p "$HOME" "$repo"
cd "$repo"
git init -q -b main .
for c in 1 2 3 4 5 6; do
    export GIT_AUTHOR_DATE="2024-01-0$c 12:00:00 +0000" GIT_COMMITTER_DATE="2024-01-0$c 12:00:00 +0000"
    for f in $(seq 1 40); do
        seq $((f * c)) $((f * c + 200)) | sed "s/^/line $c $f /" > "file$f.txt"
    done
    mkdir -p "dir$c"
    seq 1 $((c * 500)) > "dir$c/numbers"
    git add -A
    git commit -q -m "commit $c"
done
git log --stat --format='%H %an %ad %s' | head -n 200
git diff HEAD~3 HEAD --stat | tail -n 5
git diff HEAD~1 HEAD -- file7.txt | head -n 40
git gc -q --aggressive
git count-objects -v | grep -v size
git fsck --no-progress 2>&1
git log --oneline | wc -l
git rev-parse HEAD^{tree}
