# options.<path> carries value, isDefined, definitionsWithLocations, files,
# declarations, highestPrio.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  r = lib.evalModules {
    modules = [
      { _file = "decl.nix"; options.l = mkOption { type = types.listOf types.int; default = [ 0 ]; description = "a list"; };
        options.unset = mkOption { type = types.int; }; }
      { _file = "def1.nix"; l = [ 1 ]; }
      { _file = "def2.nix"; l = lib.mkBefore [ 2 ]; }
      { _file = "def3.nix"; l = lib.mkDefault [ 3 ]; }
    ];
  };
  o = r.options.l;
in {
  # ox's extra position fields are checked in definition-positions.nix;
  # without them this is nixpkgs' shape
  definitionsWithLocations = map (d: removeAttrs d [ "line" "column" "positionFile" ]) o.definitionsWithLocations;
  inherit (o) value isDefined files declarations highestPrio loc description;
  str = "${o}";
  unsetDefined = r.options.unset.isDefined;
  unsetPrio = r.options.unset.highestPrio;
  isOption = lib.isOption o;
  typeName = o.type.name;
}
