let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.ox.roles = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
      options.ox.role = lib.mkOption { type = lib.types.str; default = "x"; }; }
    { ox.rolez = [ "laptop" ];
    }
  ];
}).config.ox.roles
