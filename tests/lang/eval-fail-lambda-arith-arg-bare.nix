# The same for a body that is the arithmetic itself.
let
  h = a: b: a * 2 + b;
in
h 1 (throw "boom")
