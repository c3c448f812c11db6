# Division by zero inside integer code with an `if`: reported by the
# general path, with the lambda's context.
let
  f = acc: x: acc + (if x > 1 then 10 / (x - 2) else x);
in
builtins.foldl' f 0 (builtins.genList (i: i) 4)
