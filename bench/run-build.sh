#!/usr/bin/env bash
# Build benchmarks: `ox build` of bench/build/*.nix into a fresh store
# root (cold), then again into the same root (warm: a no-op rebuild, which
# must cost only evaluation plus validity lookups), and evaluation alone
# (`ox eval` of the drvPath) for comparison.
#
#   bench/run-build.sh [-n RUNS] [-j JOBS]
#
# Uses OX (default target/release/ox). Prints median wall seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=3
jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -j) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run-build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
OX=${OX:-$root/target/release/ox}
[ -x "$OX" ] || { echo "run-build.sh: $OX missing (cargo build --release -p ox)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/ox-bench-build.XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_case() { # name file n
  local name=$1 file=$2 n=$3 cold=() warm=() ev=()
  for r in $(seq "$runs"); do
    local sr="$tmp/$name-$r"
    local t0 t1 t2 t3 t4
    t0=$(now)
    "$OX" eval -I ox="$root/nix" --arg n "$n" -E "(import $file { n = $n; }).drvPath" >/dev/null
    t1=$(now)
    "$OX" build -I ox="$root/nix" --store-root "$sr" -j "$jobs" --no-out-link --arg n "$n" "$file" >/dev/null 2>&1
    t2=$(now)
    "$OX" build -I ox="$root/nix" --store-root "$sr" -j "$jobs" --no-out-link --arg n "$n" "$file" >/dev/null 2>&1
    t3=$(now)
    ev+=("$(echo "$t1 - $t0" | bc)")
    cold+=("$(echo "$t2 - $t1" | bc)")
    warm+=("$(echo "$t3 - $t2" | bc)")
    chmod -R u+w "$sr"; rm -rf "$sr"
  done
  printf '%-28s %8s %8s %8s\n' "$name (n=$n)" \
    "$(printf '%s\n' "${ev[@]}" | median)" \
    "$(printf '%s\n' "${cold[@]}" | median)" \
    "$(printf '%s\n' "${warm[@]}" | median)"
}

printf '%-28s %8s %8s %8s\n' workload eval cold warm
run_case text-and-scripts "$here/build/many.nix" 1000
run_case sandboxed "$here/build/sandboxed.nix" 100
