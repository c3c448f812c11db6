# definitionsWithLocations: nixpkgs' `file` and `value` (and `priority`
# for mkOrder'd definitions) plus ox's `line`/`column` of the attribute
# that defined it, and `positionFile` when a module's `_file` names
# another file than the one the definition is written in.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  r = lib.evalModules {
    modules = [
      {
        options.l = mkOption {
          type = types.listOf types.int;
          default = [ 0 ];
        };
        options.s = mkOption {
          type = types.attrsOf types.str;
          default = { };
        };
      }
      { _file = "virtual.nix"; config.l = [ 1 ]; }
      { config = lib.mkMerge [ { l = lib.mkBefore [ 2 ]; } ]; }
      ./files/def-pos.nix
      { s.y = "inline"; }
    ];
  };
  # file names relative to this directory, so the result does not depend
  # on where the repository is
  rel = f: if lib.hasPrefix "/" f then baseNameOf f else f;
  show = d: d // {
    file = rel d.file;
  } // lib.optionalAttrs (d ? positionFile) { positionFile = rel d.positionFile; };
in
{
  l = map show r.options.l.definitionsWithLocations;
  s = map show r.options.s.definitionsWithLocations;
  lValue = r.config.l;
}
