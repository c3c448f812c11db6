#!/usr/bin/env bash
# Module-system benchmark: a synthetic fleet of 30 modules and 12, 100 and
# 1000 hosts (bench/modules/gen.py), every host's config forced to JSON.
#
#   bench/modules/run.sh [HOSTS...]          (default: 12 100 1000)
#
# Runs $OX (default target/release/ox) with its own lib. With
# NIXPKGS_LIB=/path/to/nixpkgs/lib it also runs C++ Nix (nix-instantiate)
# on the same files with nixpkgs' lib.evalModules, checks that both give
# the same JSON, and prints time and peak-RSS ratios (nix/ox: > 1 means
# ox is faster / smaller). One run each; the VM varies by ±20%.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
OX=${OX:-$root/target/release/ox}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
[ -x "$OX" ] || { echo "no ox binary at $OX (cargo build --release -p ox)" >&2; exit 2; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(12 100 1000)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
if [ -n "${NIXPKGS_LIB:-}" ]; then mkdir -p "$work/shim"; ln -s "$(cd "$NIXPKGS_LIB" && pwd)" "$work/shim/lib"; fi
printf '%-6s %10s %10s %10s %10s %8s %8s\n' hosts ox_s ox_MiB nix_s nix_MiB time_x mem_x
for n in "${sizes[@]}"; do
  d="$work/fleet-$n"; python3 "$here/gen.py" "$d" "$n"
  read -r ot om < <( { $TIME -f '%e %M' "$OX" eval -I ox="$root/nix" --strict --json "$d/fleet.nix" > "$work/ox.json"; } 2>&1 | tail -1)
  if [ -n "${NIXPKGS_LIB:-}" ]; then
    read -r nt nm < <( { $TIME -f '%e %M' nix-instantiate --eval --strict --json -I ox="$work/shim" "$d/fleet.nix" > "$work/nix.json"; } 2>&1 | tail -1)
    python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' "$work/ox.json" "$work/nix.json" || echo "hosts=$n: ox and nix DISAGREE" >&2
    printf '%-6s %10s %10.0f %10s %10.0f %8.1f %8.1f\n' "$n" "$ot" "$((om/1024))" "$nt" "$((nm/1024))" "$(echo "$nt/$ot" | bc -l)" "$(echo "$nm/$om" | bc -l)"
  else
    printf '%-6s %10s %10.0f %10s %10s %8s %8s\n' "$n" "$ot" "$((om/1024))" - - - -
  fi
done
