# primops bound to variables (`inherit (builtins) …`) applied to all their
# arguments at once, to some (a partial application kept and completed
# later), and to more than their arity (the result is applied further).
let
  inherit (builtins) foldl' elemAt all isAttrs genList add map;
  sum = foldl' add 0;
  from1 = foldl' add 1;
  adder = add 10;
  fs = [ (add 1) (add 2) ];
  id = genList (x: x);
in [
  (foldl' (a: b: a + b) 0 [ 1 2 3 ])
  (sum [ 1 2 3 ])
  (from1 [ 1 ])
  (adder 5)
  (map (f: f 1) fs)
  (elemAt [ "a" "b" ] 1)
  (all isAttrs [ { } { } ])
  (elemAt [ (x: x * 2) ] 0 21)
  (id 3)
  (elemAt (id 4) 3)
  (builtins.functionArgs (elemAt [ ({ a, b ? 1 }: a) ] 0))
]
