#!/usr/bin/env bash
# Regenerate (or --check) the expected outputs of the language test corpus
# from the reference implementation (C++ Nix 2.8, `nix-instantiate`).
#
#   tests/lang/regen.sh                 regenerate every .exp / .nixerr
#   tests/lang/regen.sh --check         verify; exit 1 on any disagreement
#   tests/lang/regen.sh [--check] NAME  only cases whose file name contains NAME
#
# Environment:
#   NIX_INSTANTIATE   oracle binary (default: nix-instantiate)
#   TIMEOUT           per-case timeout in seconds (default: 60)
#
# See README.md for the file layout and the .flags convention.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
shopt -s nullglob

NIX=${NIX_INSTANTIATE:-nix-instantiate}
TIMEOUT=${TIMEOUT:-60}
check=0
filters=()
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) filters+=("$a") ;;
  esac
done

command -v "$NIX" >/dev/null || { echo "regen.sh: oracle '$NIX' not found" >&2; exit 2; }
ver=$("$NIX" --version)
case "$ver" in
  *" 2.8."*) ;;
  *) echo "regen.sh: WARNING: expected Nix 2.8.x, oracle is: $ver" >&2 ;;
esac

# A fixed, minimal environment so that outputs do not depend on the caller.
export LC_ALL=C TZ=UTC NIX_PATH= 
unset OX_LANG_TEST_UNSET_VAR || true

selected() {
  [ ${#filters[@]} -eq 0 ] && return 0
  local f
  for f in "${filters[@]}"; do [[ "$1" == *"$f"* ]] && return 0; done
  return 1
}

# Build the nix-instantiate argument list for a case into the array `args`.
build_args() { # $1 = mode (eval|parse), $2 = base name without extension
  local strict=1 flags=()
  args=()
  if [ -f "$2.flags" ]; then
    read -r -a flags < "$2.flags" || true
  fi
  local f rest=()
  for f in "${flags[@]}"; do
    if [ "$f" = "--no-strict" ]; then strict=0; else rest+=("$f"); fi
  done
  if [ "$1" = parse ]; then
    args=(--parse "${rest[@]}" "$2.nix")
  else
    args=(--eval)
    [ $strict = 1 ] && args+=(--strict)
    args+=("${rest[@]}" "$2.nix")
  fi
}

# Make stderr independent of where the checkout lives.
normalize() { sed -e "s|$here/|./|g" -e "s|$here|.|g"; }

n_ok=0 n_fail=0 n_bad=0 n_diff=0
bad() { echo "FAIL: $*" >&2; n_bad=$((n_bad+1)); }

update() { # $1 = file, $2 = new content file
  if [ $check = 1 ]; then
    if [ ! -f "$1" ]; then
      echo "MISSING: $1" >&2; n_diff=$((n_diff+1))
    elif ! cmp -s "$1" "$2"; then
      echo "DIFF: $1" >&2; diff -u "$1" "$2" | head -20 >&2; n_diff=$((n_diff+1))
    fi
  else
    cp "$2" "$1"
  fi
}

tmp_out=$(mktemp) tmp_err=$(mktemp)
trap 'rm -f "$tmp_out" "$tmp_err"' EXIT

for nix in eval-okay-*.nix; do
  base=${nix%.nix}; selected "$base" || continue
  build_args eval "$base"
  timeout "$TIMEOUT" "$NIX" "${args[@]}" >"$tmp_out" 2>"$tmp_err"; rc=$?
  if [ $rc -ne 0 ]; then
    bad "$nix: oracle exited $rc"; normalize <"$tmp_err" | head -5 >&2; continue
  fi
  if grep -qF "$here" "$tmp_out"; then
    bad "$nix: output contains the absolute checkout path"; continue
  fi
  update "$base.exp" "$tmp_out"; n_ok=$((n_ok+1))
done

for nix in eval-fail-*.nix parse-fail-*.nix; do
  base=${nix%.nix}; selected "$base" || continue
  case "$base" in parse-fail-*) mode=parse ;; *) mode=eval ;; esac
  build_args $mode "$base"
  timeout "$TIMEOUT" "$NIX" "${args[@]}" >"$tmp_out" 2>"$tmp_err"; rc=$?
  if [ $rc -eq 0 ]; then
    bad "$nix: expected failure but oracle succeeded with: $(head -c 200 "$tmp_out")"; continue
  fi
  if [ $rc -eq 124 ]; then
    bad "$nix: oracle timed out"; continue
  fi
  normalize <"$tmp_err" >"$tmp_out"
  update "$base.nixerr" "$tmp_out"; n_fail=$((n_fail+1))
done

echo "regen.sh: $n_ok eval-okay, $n_fail eval-fail/parse-fail processed; $n_bad broken, $n_diff differing"
[ $n_bad -eq 0 ] && [ $n_diff -eq 0 ]
