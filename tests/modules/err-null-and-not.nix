let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.n = lib.mkOption { type = lib.types.nullOr lib.types.int; }; }
    { n = null; }
    { n = 1; }
  ];
}).config.n
