# Builtins reached through variables (`inherit (builtins) …`) applied to
# all their arguments at once, partially, and to more than their arity.
let
  inherit (builtins) foldl' elemAt map genList;
  add = foldl' (a: b: a + b);
  pick = elemAt [ 10 20 30 ];
in
[
  (foldl' (a: b: a + b) 0 [ 1 2 3 ])
  (add 100 [ 1 2 ])
  (add 0 [ 5 ])
  (pick 1)
  (elemAt [ (x: x * 2) ] 0 21)
  (map (elemAt [ "a" "b" "c" ]) [ 2 0 ])
  (genList (foldl' (a: b: a + b) 1) 0)
]
