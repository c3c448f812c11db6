# Constant set literals inside a set print as <CODE> until selected, per
# instance of the enclosing set (selection stores their value).
let
  f = n: { a = { v = 1; }; b = { w = 2; }; n = n; };
  x = f 1;
  y = f 2;
in
builtins.seq x.a.v [ x y ]
