let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.i = lib.mkOption { type = lib.types.int; }; }
    { i = "seven"; }
  ];
}).config.i
