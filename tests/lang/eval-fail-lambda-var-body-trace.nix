# A failure while returning a one-variable body keeps the call in the trace.
let
  id = x: x;
in
id (1 + "a")
