# mkIf is lazy in its condition, also when it reads config; mkMerge.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types mkIf mkMerge;
  cfg = (lib.evalModules {
    modules = [
      { options.a.enable = mkOption { type = types.bool; default = false; };
        options.b.enable = mkOption { type = types.bool; default = false; };
        options.b.port = mkOption { type = types.port; default = 80; };
        options.names = mkOption { type = types.listOf types.str; default = [ ]; }; }
      ({ config, ... }: { config = mkIf config.a.enable { b.enable = true; names = [ "a" ]; }; })
      ({ config, ... }: mkIf config.b.enable { b.port = 8080; })
      { a.enable = true; }
      { config = mkMerge [ { names = [ "m1" ]; } (mkIf false { names = [ "never" ]; }) (mkIf true { names = [ "m2" ]; }) ]; }
      { names = [ (mkIf false "dropped") "kept" ]; }
    ];
  }).config;
in cfg
