# results exactly at the 64-bit bounds are not overflow in any Nix version
[ (9223372036854775806 + 1) (-9223372036854775807 - 1) (4611686018427387903 * 2 + 1) ]
