let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.services = lib.mkOption { type = lib.types.attrsOf (lib.types.submodule {
        options.port = lib.mkOption { type = lib.types.port; default = 80; }; }); }; }
    { services.web.prot = 8080; }
  ];
}).config.services.web.port
