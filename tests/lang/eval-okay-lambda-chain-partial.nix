# Curried chains share one frame per full application; partial
# applications must keep their bound arguments when applied again.
let
  f = a: b: c: d: [ a b c d ];
  p1 = f 1;
  p2 = p1 2;
  p3 = p2 3;
  # shadowing inside a chain: the inner `x` wins
  sh = x: y: x: [ x y ];
  # parentheses and a formals lambda in the middle end the chain
  g = a: (b: { c, d ? a + b + c }: e: [ a b c d e ]);
  # a chain whose body captures its arguments in thunks and closures
  cap = a: b: { get = _: a + b; lazy = [ a b ]; };
  caps = map (x: cap x (x * 10)) [ 1 2 3 ];
  # partial applications as callbacks of list builtins
  add3 = a: b: c: a + b + c;
  threes = builtins.foldl' (add3 0) 0 [ 1 2 3 ];
  sorted = builtins.sort ((k: a: b: if k then a < b else a > b) false) [ 3 1 2 ];
in
{
  full = f 1 2 3 4;
  partial = [ (p3 4) (p3 5) (p2 6 7) (p1 8 9 10) (p2 11 12) ];
  shadow = sh 1 2 3;
  mid = [ (g 1 2 { c = 3; } 4) (g 1 2 { c = 3; d = 0; } 5) ((g 5) 6 { c = 7; } 8) ];
  captured = map (c: [ (c.get null) c.lazy ]) caps;
  threes = threes;
  fold2 = builtins.foldl' (acc: x: y: acc y + x) (y: y) [ 1 2 ] 10;
  filtered = builtins.filter (add3 1 2) [ ];
  mapped = map (add3 1 2) [ 10 20 ];
  attrs = builtins.mapAttrs (add3 "x") { a = "1"; b = "2"; };
  zipped = builtins.zipAttrsWith (k: vs: x: [ k vs x ]) [ { a = 1; } { a = 2; } ];
  sorted = sorted;
  pf = builtins.filter ((a: b: c: c > a + b) 1 2) [ 1 2 3 4 5 ];
}
