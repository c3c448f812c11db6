# `types.either` whose definitions fit neither type as a whole falls back
# to mergeOneOption with nixpkgs' warning (a trace, expected in
# either-warning.trace): through a merge that is not v2-aware (`nullOr`)
# and when its `merge` is called directly.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  t = types.either types.int types.str;
  r = lib.evalModules {
    modules = [
      { options.n = mkOption { type = types.nullOr t; }; }
      { n = 1; }
      { n = "a"; }
    ];
  };
in
{
  # one definition of neither type: mergeOneOption returns it
  direct = t.merge [ "x" "y" ] [ { file = "def.nix"; value = true; } ];
  # two definitions, one of each type: warning, then mergeOneOption fails
  viaNullOr = (builtins.tryEval r.config.n).success;
  # definitions of one type: no warning
  fits = (types.nullOr t).merge [ "z" ] [
    { file = "a.nix"; value = 1; }
    { file = "b.nix"; value = 1; }
  ];
}
