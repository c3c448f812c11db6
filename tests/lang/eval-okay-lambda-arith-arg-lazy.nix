# A lambda applied to arithmetic that does not force its argument gets it
# unevaluated (printed <CODE>), as without the arithmetic fast path.
let
  lazy = x: [ x ];
  k = a: b: lazy (a + b);
in
k 1 (2 + 3)
