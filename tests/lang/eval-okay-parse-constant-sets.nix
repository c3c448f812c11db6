# Set literals of plain constants are built once at compile time; each
# evaluation must still look like a fresh set.
let
  f = x: { v = 2; s = "a"; n = null; b = true; fl = 1.5; };
  g = rec { x.y.z = 1; x.w = 2; e = { }; };
in
[
  (f 1 == f 2)
  (f 1 // { v = 3; })
  (builtins.attrNames (f 1))
  (builtins.unsafeGetAttrPos "s" (f 1)).column
  g
  (g.x.y.z + g.x.w)
  (builtins.mapAttrs (n: v: v) (f 0))
]
