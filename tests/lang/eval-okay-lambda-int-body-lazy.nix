# A two-argument lambda whose body is integer code with an `if` (computed
# in place by foldl'): it forces exactly the genList elements the general
# path forces, in the same order; the others still print <CODE>.
let
  xs = builtins.genList (i: i) 5;
  ys = builtins.genList (i: i) 4;
  # x is forced only when the branch that reads it is taken
  pick = acc: x: acc + (if acc < 2 then x else 1);
  step = acc: x: acc + (if builtins.bitAnd x 1 == 0 then x else 0 - x);
  a = builtins.foldl' pick 0 xs;
  b = builtins.foldl' step 0 ys;
in
builtins.seq a (builtins.seq b [ a xs b ys ])
