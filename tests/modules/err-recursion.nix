let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    ({ config, ... }: {
      options.a = lib.mkOption { type = lib.types.int; default = config.b + 1; };
      options.b = lib.mkOption { type = lib.types.int; default = config.c + 1; };
      options.c = lib.mkOption { type = lib.types.int; default = config.a + 1; };
    })
  ];
}).config.a
