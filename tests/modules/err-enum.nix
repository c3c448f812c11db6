let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.role = lib.mkOption { type = lib.types.listOf (lib.types.enum [ "server" "laptop" ]); }; }
    { role = [ "server" "labtop" ]; }
  ];
}).config.role
