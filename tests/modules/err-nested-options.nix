let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.set = lib.mkOption { type = lib.types.attrsOf lib.types.int; }; }
    { options.set.enable = lib.mkOption { type = lib.types.bool; }; }
  ];
}).config.set
