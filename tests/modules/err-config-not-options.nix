let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [ { config.foo = 1; } ];
}).config
