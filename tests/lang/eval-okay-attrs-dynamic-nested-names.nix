# Dynamic attribute names built from interpolations, nested inside each
# other (a name whose interpolation selects with another dynamic name),
# in selections, `?`, `or` and set literals.
let
  x = "b";
  n = 3;
  s = { ab = { cd = 1; c3 = 2; }; b = "b"; };
  t = { "k${toString n}" = "v${x}"; "${x}${x}" = s."a${s."${x}"}"."c${toString n}"; };
in
[
  s."a${x}"."c${"d"}"
  s."a${ { q = "b"; }."${"q"}" }".cd
  (s ? "a${x}")
  (s."z${x}" or "none")
  t
  (builtins.attrNames { "p${x}" = 1; "p${toString n}" = 2; "${"p"}" = 3; })
]
