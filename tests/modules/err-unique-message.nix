let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.main = lib.mkOption { type = lib.types.unique { message = "Only one main program."; } lib.types.str; }; }
    { main = "a"; }
    { main = "b"; }
  ];
}).config.main
