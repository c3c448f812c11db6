let lib = import <ox/lib>; in [
  ({ config, lib, ... }: {
    options.ox.samba.enable = lib.mkEnableOption "samba";
    options.ox.hidden = lib.mkOption { type = lib.types.int; default = 1; internal = true; };
    options.services = lib.mkOption {
      type = lib.types.attrsOf (lib.types.submodule { options.port = lib.mkOption { type = lib.types.port; default = 80; description = "Port."; }; });
      default = { };
      example = lib.literalExpression ''{ web.port = 8080; }'';
      description = "Services.";
    };
  })
]
