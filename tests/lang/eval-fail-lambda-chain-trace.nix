# A failure in the body of a curried chain names the call, whether the
# chain is applied to all its arguments at once or one at a time.
let
  f = a: b: c: a + b + c;
  p = f 1 2;
in
[ (f 1 2 3) (p "x") ]
