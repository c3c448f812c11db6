# Integer overflow is an evaluation error since Nix 2.24 (NixOS/nix#10968, fixed by #11188):
# the manual states that arithmetic on 64-bit signed integers that overflows throws an error.
# Nix 2.8 silently wraps instead (see tests/lang/eval-okay-int-overflow-wraps-*).
let m = -9223372036854775807 - 1; in -m
