# Calls of lambdas whose body is integer arithmetic: arguments the body
# forces first are evaluated at the call; results, laziness of arguments
# the body does not force, and order are as through the body.
let
  m = x: builtins.bitAnd x 1048575;
  h = a: b: c: d: m (a + b * 3 + c * 5 + d);
  lazy = x: [ x ];
  k = a: b: lazy (a + b);
  g = a: b: c: a - b * c;
  p = a: b: builtins.bitXor (a * 7) b;
  s = rec { a0 = 1; a1 = h a0 a0 a0 (a0 + 2); a2 = h a1 a0 a1 (a1 * 2 + 1); };
in
[
  (h 1 2 3 4)
  (h 1 2 3 (4 + 5))
  (builtins.length (k 1 (throw "not forced")))
  (g 10 (1 + 1) (2 + 2))
  (p 3 (5 + 6))
  s.a2
  (builtins.tryEval (h 1 2 (throw "x") 4)).success
]
