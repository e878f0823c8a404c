#!/usr/bin/env bash
# The cold `cargo xtask check` a new user pays on a fresh clone, for two
# revisions of this repository, measured in the same run: each revision is
# cloned once, then RUNS times (alternating) its target folder is removed and
# `cargo xtask check` runs from scratch (dependencies already downloaded, as
# after any earlier `cargo fetch`). Prints every time, the medians, and
# NEW/OLD.
#
#   xtask/scripts/cold-build.sh [OLD [NEW [RUNS]]]
#
# OLD: default 558529d (before the dev profile's changes of f56503e).
# NEW: default HEAD.  RUNS: default 3.
set -euo pipefail
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
old=${1:-558529d}
new=${2:-HEAD}
runs=${3:-3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
    git clone -q "$repo" "$work/$side"
    git -C "$work/$side" checkout -q --detach "${!side}"
done
(cd "$work/new" && cargo fetch -q)

seconds() {
    local side=$1 start end
    rm -rf "$work/$side/target"
    start=$(date +%s.%N)
    (cd "$work/$side" && CARGO_TARGET_DIR="$work/$side/target" cargo xtask check >/dev/null 2>&1)
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$work/old.times"
: >"$work/new.times"
for run in $(seq "$runs"); do
    for side in old new; do
        t=$(seconds "$side")
        echo "run $run: $side (${!side}) ${t} s"
        echo "$t" >>"$work/$side.times"
    done
done
o=$(median <"$work/old.times")
n=$(median <"$work/new.times")
echo "median cold cargo xtask check: $old ${o} s, $new ${n} s, $(echo "scale=2; $n / $o" | bc)x"
