# A function with formals applied to a set literal (ox fills the frame
# from the literal without building the set): defaults that see other
# formals, `...`, inherit, nested paths, laziness, shadowing, and the
# shapes that take the general path (`@`, rec, dynamic names).
let
  x = 10;
  k = "b";
  f = { a, b ? a + 1, ... }: [ a b ];
  g = { config }: config.v;
  h = args@{ a, ... }: builtins.attrNames args;
  n = { p }: p.q.r + p.q.s;
  mods = map (m: m { config = { v = 5; }; }) [ g (c: c.config.v + 1) ];
in [
  (f { a = 1; })
  (f { a = 1; b = 5; })
  (f { a = 1; c = throw "unused"; })
  (f { inherit x; a = x; })
  (g { config = { v = x; }; })
  (let config = { v = 3; }; in g { config = config; })
  (let config = { v = 4; }; in g { inherit config; })
  (n { p.q.r = 1; p.q.s = 2; })
  (h { a = 1; b = 2; })
  (f rec { a = 2; b = a * 10; })
  (f { a = 3; ${k} = 4; })
  mods
  (({ a ? throw "default unused" }: 1) { a = 2; })
  (({ a }: 7) { a = throw "lazy"; })
]
