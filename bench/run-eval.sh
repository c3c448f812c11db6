#!/usr/bin/env bash
# Evaluator benchmarks: ox vs. C++ Nix on bench/eval/*.nix.
#
#   bench/run-eval.sh [-n RUNS] [WORKLOAD...]
#
# For every workload (default: all bench/eval/*.nix; or names like `fib`) this runs
#   $OX eval --strict FILE            (default OX=target/release/ox)
#   nix-instantiate --eval --strict FILE
# RUNS times each (default 3, or $RUNS), checks both print the same thing, and reports
# the median wall time and the median peak RSS measured by `/usr/bin/time -f '%e %M'`.
# Ratios are nix/ox, so > 1 means ox is faster / uses less memory.
# If the ox binary is missing, only the nix columns are filled in.
# Exit status: 0, or 1 if any workload failed or ox and nix disagreed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) runs=$2; shift 2 ;;
    -n*) runs=${1#-n}; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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

# measure LABEL FILE CMD...  -> sets m_time, m_rss, m_ok; output left in $tmp/LABEL.out
measure() {
  local label=$1 file=$2; shift 2
  local i t m
  m_ok=1
  : > "$tmp/$label.ts"; : > "$tmp/$label.ms"
  for ((i = 0; i < runs; i++)); do
    if ! "$TIME" -o "$tmp/$label.time" -f '%e %M' "$@" "$file" >"$tmp/$label.out" 2>"$tmp/$label.err"; then
      m_ok=0
      echo "run-eval.sh: $label failed on $(basename "$file"):" >&2
      grep -v '^Command exited' "$tmp/$label.err" | head -5 >&2
      break
    fi
    read -r t m < <(tail -n 1 "$tmp/$label.time")
    echo "$t" >> "$tmp/$label.ts"; echo "$m" >> "$tmp/$label.ms"
  done
  if [ $m_ok = 1 ]; then
    m_time=$(median < "$tmp/$label.ts"); m_rss=$(median < "$tmp/$label.ms")
  else
    m_time=-; m_rss=-
  fi
}

status=0
rows="$tmp/rows"
: > "$rows"
echo "nix: $("$NIX" --version)   ox: $([ $have_ox = 1 ] && echo "$OX" || echo missing)   runs: $runs" >&2
for f in "${files[@]}"; do
  w=$(basename "$f" .nix)
  echo "  running $w ..." >&2
  measure nix "$f" "$NIX" --eval --strict
  nix_ok=$m_ok nix_t=$m_time nix_m=$m_rss
  ox_t=- ox_m=- note=""
  [ $nix_ok = 1 ] || { note="nix-failed"; status=1; }
  if [ $have_ox = 1 ]; then
    measure ox "$f" "$OX" eval --strict
    ox_t=$m_time ox_m=$m_rss
    if [ $m_ok = 0 ]; then
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
  echo "$w $nix_t $ox_t $nix_m $ox_m $note" >> "$rows"
done

awk '
  function ratio(a, b) { return (a == "-" || b == "-" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
  function mb(k) { return (k == "-") ? "-" : sprintf("%.1f", k / 1024) }
  function sec(t) { return (t == "-") ? "-" : sprintf("%.2f", t) }
  BEGIN {
    fmt = "%-16s %9s %9s %9s %11s %11s %9s  %s\n"
    printf fmt, "workload", "nix s", "ox s", "speed", "nix MiB", "ox MiB", "mem", "check"
    printf fmt, "--------", "-----", "----", "-----", "-------", "------", "---", "-----"
  }
  { printf fmt, $1, sec($2), sec($3), ratio($2, $3), mb($4), mb($5), ratio($4, $5), $6 }
  END { print "(speed = nix time / ox time, mem = nix RSS / ox RSS; medians of the runs)" }
' "$rows"
exit $status
