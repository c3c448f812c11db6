#!/usr/bin/env bash
# Module-system benchmark: a synthetic fleet of 30 modules and 12, 100 and
# 1000 hosts (bench/modules/gen.py), every host's config forced to JSON.
#
#   bench/modules/run.sh [HOSTS...]          (default: 12 100 1000)
#
# Runs $OX (default target/release/ox) with its own lib. With
# NIXPKGS_LIB=/path/to/nixpkgs/lib it also runs C++ Nix (nix-instantiate)
# on the same files with nixpkgs' lib.evalModules, checks that both give
# the same JSON, and prints CPU time (user+sys: the machine is shared, so
# wall time says little), wall time, peak RSS and the nix/ox ratios (> 1
# means ox is faster / smaller). One run each; the VM varies by ±20%.
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
printf '%-6s %8s %8s %8s %8s %8s %8s %7s %7s\n' hosts ox_cpu ox_wall ox_MiB nix_cpu nix_wall nix_MiB cpu_x mem_x
for n in "${sizes[@]}"; do
  d="$work/fleet-$n"; python3 "$here/gen.py" "$d" "$n"
  read -r ow om ou os < <( { $TIME -f '%e %M %U %S' "$OX" eval -I ox="$root/nix" --strict --json "$d/fleet.nix" > "$work/ox.json"; } 2>&1 | tail -1)
  oc=$(echo "$ou + $os" | bc -l)
  if [ -n "${NIXPKGS_LIB:-}" ]; then
    read -r nw nm nu ns < <( { $TIME -f '%e %M %U %S' nix-instantiate --eval --strict --json -I ox="$work/shim" "$d/fleet.nix" > "$work/nix.json"; } 2>&1 | tail -1)
    nc=$(echo "$nu + $ns" | bc -l)
    python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' "$work/ox.json" "$work/nix.json" || echo "hosts=$n: ox and nix DISAGREE" >&2
    printf '%-6s %8.2f %8.2f %8d %8.2f %8.2f %8d %7.1f %7.1f\n' "$n" "$oc" "$ow" "$((om/1024))" "$nc" "$nw" "$((nm/1024))" "$(echo "$nc/$oc" | bc -l)" "$(echo "$nm/$om" | bc -l)"
  else
    printf '%-6s %8.2f %8.2f %8d %8s %8s %8s %7s %7s\n' "$n" "$oc" "$ow" "$((om/1024))" - - - - -
  fi
done
