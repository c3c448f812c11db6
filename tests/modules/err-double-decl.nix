let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.s = lib.mkOption { type = lib.types.str; default = "a"; }; }
    { options.s = lib.mkOption { type = lib.types.str; default = "b"; }; }
  ];
}).config.s
