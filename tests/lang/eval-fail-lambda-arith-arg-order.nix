# Arguments are forced in the body's order: `a / b` fails before `c` is
# looked at, so the division by zero is reported, not `c`'s error.
let
  h = a: b: c: a / b + c;
in
h 1 0 (throw "c must not be forced")
