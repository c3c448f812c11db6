# assertions/warnings checked with lib.asserts.checkAssertWarn.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  r = lib.evalModules {
    modules = [
      { options.assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
        options.warnings = mkOption { type = types.listOf types.str; default = [ ]; };
        options.x = mkOption { type = types.int; default = 1; }; }
      ({ config, ... }: { assertions = [ { assertion = config.x > 0; message = "x must be positive"; } ]; })
    ];
  };
in lib.asserts.checkAssertWarn r.config.assertions r.config.warnings "ok"
