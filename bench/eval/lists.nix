# List primops: sort with a Nix-level comparator, map/filter/concatMap, groupBy,
# partition, elemAt-based lookups, on a pseudo-random list of 200k integers.
# Stresses: comparator calls from a primop, list allocation, attrset building.
let
  inherit (builtins) genList sort map filter concatMap groupBy partition length elemAt
    foldl' bitAnd toString attrNames;
  n = 200000;
  rnd = i: bitAnd (i * 1103515245 + 12345) 1048575;
  xs = genList rnd n;
  sorted = sort (a: b: a < b) xs;
  evens = filter (x: bitAnd x 1 == 0) sorted;
  pairs = concatMap (x: [ x (x + 1) ]) (genList (i: elemAt sorted (i * 3)) (n / 3));
  groups = groupBy (x: toString (bitAnd x 15)) xs;
  parts = partition (x: x > 524288) xs;
  checksum = foldl' (acc: x: bitAnd (acc * 31 + x) 1073741823) 0 sorted;
in
builtins.concatStringsSep "," (map toString [ (elemAt sorted 0) (elemAt sorted (n - 1)) (length evens) (length pairs)
  (length (attrNames groups)) (length parts.right) checksum ])
