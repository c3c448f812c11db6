# An error in the argument of a lambda that forces it first keeps the
# call in the trace.
let
  m = x: builtins.bitAnd x 255;
  g = p: if p.a == 1 then 1 else 2;
in
[ (g { a = 1; }) (m (1 + "a")) ]
