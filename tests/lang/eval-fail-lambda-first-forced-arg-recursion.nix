# A lambda that forces its argument first gets the argument evaluated at
# the call; an infinite recursion in it still points at the forced
# variable and names the call.
let
  f = p: p + 1;
  x = f (builtins.seq x 1);
in
x
