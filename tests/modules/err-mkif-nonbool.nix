let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.s = lib.mkOption { type = lib.types.str; default = "a"; }; }
    { s = lib.mkIf "yes" "b"; }
  ];
}).config.s
