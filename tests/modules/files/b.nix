{ lib, ... }: {
  imports = [ ./c.nix ];
  config.fromA = [ "b" ];
}
