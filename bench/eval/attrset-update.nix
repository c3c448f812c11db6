# Attribute-set updates with `//` in a loop: every step copies the set, so this is
# quadratic in the final size (like naive overlay stacking).
# Stresses: attrset allocation/merge, dynamic attribute names, toString.
let
  n = 24000;
  step = acc: i: acc // { "k${toString i}" = i; } // { last = i; };
  final = builtins.foldl' step { } (builtins.genList (i: i) n);
in
builtins.length (builtins.attrNames final) + final.last + final.k123
