# attrsOf (submodule …) with the `name` argument and option defaults.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  service = { name, config, ... }: {
    options = {
      enable = lib.mkEnableOption "the service";
      name = mkOption { type = types.str; default = name; };
      port = mkOption { type = types.port; default = 80; };
      url = mkOption { type = types.str; default = "http://${config.name}:${toString config.port}"; };
      tags = mkOption { type = types.listOf types.str; default = [ ]; };
    };
  };
  cfg = (lib.evalModules {
    modules = [
      { options.services = mkOption { type = types.attrsOf (types.submodule service); default = { }; }; }
      { services.web = { enable = true; port = 8080; tags = [ "a" ]; }; }
      { services.web.tags = [ "b" ]; services.db = { }; }
      { services.cache = lib.mkIf false { enable = true; }; }
    ];
  }).config;
in cfg
