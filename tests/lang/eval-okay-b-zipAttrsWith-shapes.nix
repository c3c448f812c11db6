# zipAttrsWith over the shapes it groups differently: one set, sets with
# the same names, sets with different names (first-appearance order is not
# name order), empty sets among them, and names that are not interned the
# same way (built dynamically). Values stay lazy: unused ones may throw.
let
  z = builtins.zipAttrsWith (n: vs: { inherit n vs; });
  k = "b";
in [
  (z [ { a = 1; b = 2; } ])
  (z [ { a = 1; b = 2; } { a = 3; b = 4; } { a = 5; b = 6; } ])
  (z [ { b = 1; } { } { a = 2; ${k} = 3; } { c = 4; } { a = 5; } ])
  (z [ { } { } ])
  (z [ { x = 1; y = 2; } { x = 3; z = 4; } ])
  (builtins.attrNames (builtins.zipAttrsWith (n: throw "unused") [ { q = 1; } { p = 2; } ]))
  (builtins.zipAttrsWith (n: vs: builtins.length vs) [ { a = throw "lazy"; } { a = 2; } ])
  # names sharing long prefixes, prefixes of each other, non-ASCII
  (builtins.attrNames (builtins.zipAttrsWith (n: vs: vs) (map (n: { ${n} = 1; }) [
    "abcdefghij2" "abcdefghij10" "abcdefgh" "abcdefghi" "abc" "ab" "b" "été" "Z" "_" "abcdefgh"
    "abcdefgz" "a" "abcdefghij1"
  ])))
]
