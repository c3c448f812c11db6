let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.s = lib.mkOption { type = lib.types.str; default = "a"; }; config.s = "b"; t = 1; }
  ];
}).config.s
