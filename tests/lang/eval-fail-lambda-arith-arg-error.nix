# A call of an arithmetic body (`m (a + b * 3 + c * 5 + d)`) evaluates the
# argument the body forces first at the call; an error in it still names
# the applied lambda and the call, as when the body forces it.
let
  m = x: builtins.bitAnd x 255;
  h = a: b: c: d: m (a + b * 3 + c * 5 + d);
in
[ (h 1 2 3 4) (h 1 2 3 (4 + "x")) ]
