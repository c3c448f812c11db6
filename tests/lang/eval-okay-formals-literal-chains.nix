# Functions with formals inside and around curried chains, applied to set
# literals: defaults that read the chain's arguments, chains that continue
# after the formals, partial applications reused.
let
  f = a: { b ? a * 10, c ? b + 1 }: [ a b c ];
  g = { x, y ? x }: z: w: x + y + z + w;
  h = p: q: { r ? p + q }: s: [ p q r s ];
  f1 = f 1;
  g1 = g { x = 1; };
  h12 = h 1 2;
in [
  (f 1 { })
  (f 2 { b = 3; })
  (f1 { c = 0; })
  (f1 { })
  (g { x = 1; y = 2; } 3 4)
  (g1 5 6)
  (g1 7 8)
  (h 1 2 { } 3)
  (h12 { r = 0; } 4)
  (h12 { } 5)
  (map (m: m { b = 1; }) [ (f 0) (f 5) ])
]
