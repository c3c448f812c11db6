# builtins.foldl' over a large list (3e6 elements) built with genList.
# Stresses: primop calls, strict accumulator, list allocation, small closures.
let
  n = 3000000;
  xs = builtins.genList (i: i) n;
  step = acc: x: acc + (if builtins.bitAnd x 1 == 0 then x else 0 - x);
in
builtins.foldl' step 0 xs
