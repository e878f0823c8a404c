#!/usr/bin/env bash
# Replays the monorepo's history through the xtask: for every first-parent
# commit from FROM to TO, `check` on the commit's tree (what CI would say) and
# `check --since <parent>` (what the pre-commit hook would say of the commit).
# Prints one line per commit that either refuses, then the totals.
#
#   xtask/scripts/replay-history.sh XTASK CLONE [FROM [TO]]
#
# XTASK: the built binary (cargo build -p xtask; target/debug/xtask).
# CLONE: a clone of github.com/mobiledgex/edge-cloud-infra; left untouched
#        (a temporary detached worktree is used).
# FROM:  default 37dafeb0e, the monorepo's "Common baseimage for all platforms".
# TO:    default the clone's HEAD.
set -euo pipefail
xtask=$(realpath "$1")
clone=$(realpath "$2")
from=${3:-37dafeb0e}
to=${4:-HEAD}

work=$(mktemp -d)
trap 'git -C "$clone" worktree remove --force "$work/tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$clone" worktree add -q --detach "$work/tree" "$from"

commits=0 check_errors=0 hook_refusals=0
for commit in $(git -C "$clone" rev-list --reverse --first-parent "$from^..$to"); do
    git -C "$work/tree" checkout -q -f "$commit"
    commits=$((commits + 1))
    subject=$(git -C "$clone" log -1 --format='%h %ad %s' --date=short "$commit")
    check_rc=0 hook_rc=0
    check_out=$("$xtask" -C "$work/tree" --color never check 2>&1) || check_rc=$?
    hook_out=$("$xtask" -C "$work/tree" --color never check --since "$commit^1" 2>&1) || hook_rc=$?
    [ "$check_rc" -ne 0 ] && check_errors=$((check_errors + 1))
    [ "$hook_rc" -ne 0 ] && hook_refusals=$((hook_refusals + 1))
    if [ "$check_rc" -ne 0 ] || [ "$hook_rc" -ne 0 ]; then
        echo "$subject"
        printf '%s\n' "$check_out" | grep -E '^error\[' | sed 's/^/    check: /' | cut -c1-160 || true
        printf '%s\n' "$hook_out" | grep -E '^error\[' | sed 's/^/    hook:  /' | cut -c1-160 || true
    fi
done
echo "commits: $commits; check exits 1 on $check_errors; the hook refuses $hook_refusals"
