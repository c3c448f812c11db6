# freeformType: undeclared definitions merge with the freeform type.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  settings = types.submodule {
    freeformType = types.attrsOf (types.oneOf [ types.int types.str types.bool ]);
    options.port = mkOption { type = types.port; default = 80; };
  };
  cfg = (lib.evalModules {
    modules = [
      { options.settings = mkOption { type = settings; default = { }; }; }
      { settings.log = "info"; settings.port = 8080; }
      { settings.debug = true; }
      { freeformType = types.attrsOf types.anything; top = { a = 1; }; }
    ];
  }).config;
in cfg
