#!/usr/bin/env bash
# Evaluator benchmarks: ox vs. C++ Nix on bench/eval/*.nix.
#
#   bench/run-eval.sh [-n RUNS] [--settle] [WORKLOAD...]
#
# For every workload (default: all bench/eval/*.nix; or names like `fib`) this runs
#   nix-instantiate --eval --strict FILE
#   $OX eval --strict FILE            (default OX=target/release/ox)
# alternately, RUNS times each (default 3, or $RUNS), checks both print the same thing,
# and reports the median wall time, the median CPU time (user+sys) and the median peak
# RSS measured by `/usr/bin/time`. Ratios are nix/ox, so > 1 means ox is faster / uses
# less memory. Runs alternate so that both suffer the same load on a shared machine;
# CPU time is the steadier number there.
# --settle (root only): before every run, write back and drop the page cache and compact
# memory, so that neither program's page faults wait for the kernel to reclaim or
# defragment memory that other work left behind (the system time of first-touching
# fresh pages otherwise varies between identical runs on a busy VM).
# If the ox binary is missing, only the nix columns are filled in.
# Exit status: 0, or 1 if any workload failed or ox and nix disagreed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
settle=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -n*) runs=${1#-n}; shift ;;
    --settle) settle=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) names+=("$1"); shift ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "run-eval.sh: -n needs a positive integer" >&2; exit 2 ;; esac

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
  echo "run-eval.sh: $TIME not found (GNU time). Install it with: apt-get install time" >&2
  exit 2
fi
NIX=${NIX_INSTANTIATE:-nix-instantiate}
if ! command -v "$NIX" >/dev/null; then
  echo "run-eval.sh: $NIX not found" >&2; exit 2
fi
OX=${OX:-target/release/ox}
case "$OX" in /*) ;; */*) OX="$root/$OX" ;; *) OX=$(command -v "$OX" || echo "$OX") ;; esac
have_ox=1
if [ ! -x "$OX" ]; then
  echo "run-eval.sh: ox binary '$OX' not found (build with 'cargo build --release' or set OX=...); reporting nix only" >&2
  have_ox=0
fi

files=()
if [ ${#names[@]} -eq 0 ]; then
  files=("$here"/eval/*.nix)
else
  for n in "${names[@]}"; do
    n=${n%.nix}; n=${n##*/}
    [ -f "$here/eval/$n.nix" ] || { echo "run-eval.sh: no workload '$n'" >&2; exit 2; }
    files+=("$here/eval/$n.nix")
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

settle_memory() {
  [ $settle = 1 ] || return 0
  sync
  echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || { echo "run-eval.sh: --settle needs root" >&2; exit 2; }
  echo 1 > /proc/sys/vm/compact_memory 2>/dev/null || true
}

# one LABEL FILE CMD...  -> one run; appends wall, CPU and RSS to $tmp/LABEL.{ts,cs,ms};
# output left in $tmp/LABEL.out; returns non-zero if the command failed
one() {
  local label=$1 file=$2; shift 2
  local t m u s
  settle_memory
  if ! "$TIME" -o "$tmp/$label.time" -f '%e %M %U %S' "$@" "$file" >"$tmp/$label.out" 2>"$tmp/$label.err"; then
    echo "run-eval.sh: $label failed on $(basename "$file"):" >&2
    grep -v '^Command exited' "$tmp/$label.err" | head -5 >&2
    return 1
  fi
  read -r t m u s < <(tail -n 1 "$tmp/$label.time")
  echo "$t" >> "$tmp/$label.ts"; echo "$m" >> "$tmp/$label.ms"
  awk -v u="$u" -v s="$s" 'BEGIN { print u + s }' >> "$tmp/$label.cs"
}

status=0
rows="$tmp/rows"
: > "$rows"
echo "nix: $("$NIX" --version)   ox: $([ $have_ox = 1 ] && echo "$OX" || echo missing)   runs: $runs" >&2
for f in "${files[@]}"; do
  w=$(basename "$f" .nix)
  echo "  running $w ..." >&2
  for l in nix ox; do : > "$tmp/$l.ts"; : > "$tmp/$l.ms"; : > "$tmp/$l.cs"; done
  nix_ok=1 ox_ok=$have_ox
  for ((i = 0; i < runs; i++)); do
    [ $nix_ok = 1 ] && { one nix "$f" "$NIX" --eval --strict || nix_ok=0; }
    [ $ox_ok = 1 ] && { one ox "$f" "$OX" eval --strict || ox_ok=0; }
  done
  nix_t=- nix_c=- nix_m=- ox_t=- ox_c=- ox_m=- note=""
  if [ $nix_ok = 1 ]; then
    nix_t=$(median < "$tmp/nix.ts"); nix_c=$(median < "$tmp/nix.cs"); nix_m=$(median < "$tmp/nix.ms")
  else
    note="nix-failed"; status=1
  fi
  if [ $have_ox = 1 ]; then
    if [ $ox_ok = 1 ]; then
      ox_t=$(median < "$tmp/ox.ts"); ox_c=$(median < "$tmp/ox.cs"); ox_m=$(median < "$tmp/ox.ms")
    fi
    if [ $ox_ok = 0 ]; then
      note="${note:+$note,}ox-failed"; status=1
    elif [ $nix_ok = 1 ] && ! cmp -s "$tmp/nix.out" "$tmp/ox.out"; then
      note="${note:+$note,}MISMATCH"; status=1
      echo "run-eval.sh: output mismatch on $w: nix=$(head -c 100 "$tmp/nix.out") ox=$(head -c 100 "$tmp/ox.out")" >&2
    else
      note=ok
    fi
  else
    [ -n "$note" ] || note="no-ox"
  fi
  echo "$w $nix_t $ox_t $nix_c $ox_c $nix_m $ox_m $note" >> "$rows"
done

awk '
  function ratio(a, b) { return (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
  function mb(k) { return (k == "-") ? "-" : sprintf("%.1f", k / 1024) }
  function sec(t) { return (t == "-") ? "-" : sprintf("%.2f", t) }
  BEGIN {
    fmt = "%-16s %7s %7s %7s %8s %8s %8s %9s %9s %7s  %s\n"
    printf fmt, "workload", "nix s", "ox s", "speed", "nix cpu", "ox cpu", "cpu x", "nix MiB", "ox MiB", "mem", "check"
    printf fmt, "--------", "-----", "----", "-----", "-------", "------", "-----", "-------", "------", "---", "-----"
  }
  { printf fmt, $1, sec($2), sec($3), ratio($2, $3), sec($4), sec($5), ratio($4, $5), mb($6), mb($7), ratio($6, $7), $8 }
  END { print "(speed = nix wall / ox wall, cpu x = nix CPU (user+sys) / ox CPU, mem = nix RSS / ox RSS; medians of the runs)" }
' "$rows"
exit $status
