# filter/concatMap/all/any/partition/groupBy reuse the frame of their
# callback between elements only when nothing kept it: closures and lazy
# values made for earlier elements still see their own element.
let
  inherit (builtins) concatMap filter all any partition groupBy map elemAt;
  mixed = concatMap (x: if x == 2 then [ (_: x) ] else [ x ]) [ 1 2 3 4 ];
  lazy = concatMap (x: [ { v = x * 3; } ]) [ 1 2 3 ];
  kept = filter (x: (if x > 1 then x else 0) > 0) [ 1 2 3 ];
  parts = partition (x: (if x == 2 then 1 else 0) == 1) [ 1 2 3 ];
  groups = groupBy (x: if x > 2 then "big" else "small") [ 1 2 3 4 ];
in
[
  (elemAt mixed 0)
  ((elemAt mixed 1) null)
  (elemAt mixed 2)
  (map (s: s.v) lazy)
  kept
  parts
  groups
  (all (x: (if x > 0 then 1 else 0) == 1) [ 1 2 3 ])
  (any (x: (if x > 2 then 1 else 0) == 1) [ 1 2 3 ])
]
