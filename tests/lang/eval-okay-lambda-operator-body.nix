# Lambdas whose body is one operator on variables (sort comparators,
# `x: x > k`): the arguments, enclosing lets and outer lambdas are all
# seen, and a zero divisor still goes through the normal path (see
# eval-fail-lambda-operator-body-div-zero.nix).
let
  k = 10;
  outer = o: map (x: x * o + k) [ 1 2 3 ];
  pick = a: b: b - a;
  r = builtins.tryEval (builtins.map (x: 1 / x) [ 0 ]);
in
[
  (builtins.sort (a: b: a < b) [ 5 3 9 1 ])
  (builtins.sort (a: b: b < a) [ 5 3 9 1 ])
  (builtins.filter (x: x > k) [ 4 11 20 ])
  (outer 7)
  (pick 3 10)
  (builtins.map (x: 100 / x) [ 1 3 ])
  (builtins.partition (x: x == k) [ 10 1 10 ])
  r.success
  (builtins.sort (a: b: a - k < b) [ 30 12 25 ])
]
