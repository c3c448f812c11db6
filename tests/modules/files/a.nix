{ lib, config, ... }: {
  imports = [ ./b.nix ./sub ];
  options.fromA = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
  config.fromA = [ "a" ];
}
