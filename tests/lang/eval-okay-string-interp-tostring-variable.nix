# "${toString x}" with toString reached through a variable (inherit,
# let alias) and through a shadowing user function; every kind of value
# toString accepts; the argument evaluated once and lazily per string.
let
  inherit (builtins) toString;
  ts = builtins.toString;
  n = 41 + 1;
  own = let toString = x: "own"; in "${toString 1}";
in [
  "a${toString n}b"
  "${toString (-7)}|${toString 0}|${ts 9223372036854775807}"
  "${toString "s"}${toString /tmp}${toString null}${toString true}${toString false}"
  "${toString [ 1 "x" [ ] null ]}"
  "${toString 1.5}"
  "${toString { __toString = self: "ts"; }}${toString { outPath = "op"; }}"
  own
  (builtins.length (map (i: "k${toString (i * 2)}") [ 1 2 3 ]))
  (builtins.attrNames (builtins.listToAttrs (map (i: { name = "u${toString i}"; value = i; }) [ 10 2 ])))
]
