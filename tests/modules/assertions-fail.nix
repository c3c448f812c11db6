let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  r = lib.evalModules {
    modules = [
      { options.assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
        options.x = mkOption { type = types.int; default = 0; }; }
      ({ config, ... }: { assertions = [ { assertion = config.x > 0; message = "x must be positive"; }
                                        { assertion = true; message = "fine"; } ]; })
    ];
  };
in lib.asserts.checkAssertWarn r.config.assertions [ ] "ok"
