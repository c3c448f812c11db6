# Integer-code bodies whose fast path gives up and falls back to the
# general evaluation: a boolean variable, a non-integer, a float, an
# unevaluated thunk that is not a genList element, nested ifs.
let
  xs = builtins.genList (i: i) 6;
  step = acc: x: acc + (if builtins.bitAnd x 1 == 0 then x else 0 - x);
  nested = acc: x: acc * 2 + (if x > 2 then (if x > 4 then 100 else 10) else x) - 1;
  cond = acc: b: acc + (if b then 1 else 0);
  cmp = a: b: (if a < b then a else b) == 3;
in
[
  (builtins.foldl' step 0 xs)
  (builtins.foldl' step 0.5 xs)
  (builtins.foldl' step 0 (map (x: x * 3) xs))
  (builtins.foldl' nested 0 xs)
  (builtins.foldl' cond 0 [ true false true (1 == 1) ])
  (builtins.sort cmp [ 5 3 4 ])
  (builtins.foldl' (acc: x: acc + (if x == 0 then 7 else x / 2)) 1 [ 0 5 (2 + 2) ])
]
