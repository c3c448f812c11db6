let
  lib = import <ox/lib>;
  r = lib.evalModules {
    modules = [
      { options.assertions = lib.mkOption { type = lib.types.listOf lib.types.unspecified; default = [ ]; }; }
      (lib.mkRemovedOptionModule [ "gone" ] "Use new.port instead.")
      { _file = "host.nix"; gone = 1; }
    ];
  };
in lib.asserts.checkAssertWarn r.config.assertions [ ] "ok"
