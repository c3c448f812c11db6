let
  lib = import <ox/lib>;
  roles = [ "server" "desktop" "laptop" "router" ];
  roleModule = { config, lib, ... }: {
    options.ox.roles = lib.mkOption { type = lib.types.listOf (lib.types.enum roles); default = [ ]; };
    options.ox.role = lib.genAttrs roles (name: lib.mkOption {
      type = lib.types.bool; readOnly = true; default = lib.elem name config.ox.roles;
    }) // {
      enduser = lib.mkOption { type = lib.types.bool; readOnly = true; default = config.ox.role.desktop || config.ox.role.laptop; };
    };
  };
  sambaModule = { config, lib, ... }: {
    options.ox.samba.enable = lib.mkEnableOption "samba";
    config.ox.samba.enable = lib.mkDefault config.ox.role.enduser;
  };
  host = { ox.roles = [ "laptop" ]; };
  r = lib.evalModules { modules = [ roleModule sambaModule host ]; };
in r.config
