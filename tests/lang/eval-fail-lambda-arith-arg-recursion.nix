# An argument evaluated at the call that needs the value being computed:
# infinite recursion, at the same place as through the body.
let
  h = a: b: a * 2 + b;
  x = h 1 (x + 1);
in
x
