# Lambdas whose body is one variable (`x: x`, `_: k`) return it without
# building a frame: the argument stays shared (forcing it once is enough)
# and outer variables are read from the right scope.
let
  k = 7;
  id = x: x;
  const = _: k;
  twice = n: m: n;
  shared = builtins.genList (i: i * 2) 3;
  r = builtins.tryEval (id (throw "boom"));
in
[
  (builtins.genList id 4)
  (builtins.genList const 2)
  (map (twice 5) [ 1 2 ])
  (id shared)
  (builtins.elemAt (builtins.genList (i: i) 5) 3)
  r.success
]
