#!/usr/bin/env bash
# Differential check of the module tests against nixpkgs' own lib:
#   NIXPKGS_LIB=/path/to/nixpkgs/lib tests/modules/diff-nixpkgs.sh
# Runs every tests/modules/*.nix with C++ Nix (`nix-instantiate`) and
# `<ox/lib>` pointing at nixpkgs' lib, and compares with the expected
# JSON (cases using ox-only parts, such as lib.hm, are reported as such).
# Error cases print both messages for reading side by side (ox adds
# file:line:col, so they are not compared byte for byte).
set -uo pipefail
: "${NIXPKGS_LIB:?set NIXPKGS_LIB to a nixpkgs lib directory}"
here=$(cd "$(dirname "$0")" && pwd)
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
ln -s "$(cd "$NIXPKGS_LIB" && pwd)" "$shim/lib"
same=0; diff=0
for f in "$here"/*.nix; do
  b=${f%.nix}; n=$(basename "$b")
  out=$(nix-instantiate --eval --strict --json -I ox="$shim" "$f" 2>"$shim/err")
  if [ -f "$b.json" ]; then
    if python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1]) == json.load(open(sys.argv[2])) else 1)' "$out" "$b.json" 2>/dev/null; then
      same=$((same+1))
    else
      diff=$((diff+1)); echo "DIFF $n: $(grep -m1 error "$shim/err")"
    fi
  else
    echo "== $n (error case)"; grep -v '^\s*$' "$shim/err" | head -6; echo "-- ox:"; head -6 "$b.err"
  fi
done
echo "$same same, $diff different"
