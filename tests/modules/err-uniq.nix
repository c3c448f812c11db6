let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.u = lib.mkOption { type = lib.types.uniq (lib.types.listOf lib.types.int); }; }
    { u = [ 1 ]; }
    { u = [ 2 ]; }
  ];
}).config.u
