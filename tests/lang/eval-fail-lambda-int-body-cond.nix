# An `if` condition that is an integer, in integer code.
let
  f = acc: x: acc + (if x then 1 else 2);
in
builtins.foldl' f 0 (builtins.genList (i: i) 3)
