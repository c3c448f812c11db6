{ config, lib, pkgs, ... }:
{
  options.ox.games.enable = lib.mkEnableOption "the gaming tools";
  config = lib.mkIf config.ox.games.enable {
    environment.systemPackages = [ pkgs.mangohud ];
    environment.sessionVariables.MANGOHUD = "1";
  };
}
