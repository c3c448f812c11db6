let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.services = lib.mkOption { type = lib.types.attrsOf (lib.types.submodule {
        options.port = lib.mkOption { type = lib.types.port; }; }); }; }
    { services.web.port = 70000; }
  ];
}).config.services.web.port
