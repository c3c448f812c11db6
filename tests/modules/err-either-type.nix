# An option of type `either` (here `oneOf`, a left fold of `either`s)
# whose definitions fit none of its types as a whole: nixpkgs' v2 merge
# reports a type error naming the outermost either's two parts (no
# warning; the warning is for merges that are not v2-aware, see
# either-warning.nix).
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
in
(lib.evalModules {
  modules = [
    { options.e = mkOption { type = types.oneOf [ types.int types.str types.bool ]; }; }
    { e = 1; }
    { e = "a"; }
  ];
}).config.e
