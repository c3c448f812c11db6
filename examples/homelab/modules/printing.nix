{ config, lib, pkgs, ... }:
{
  options.ox.printing.enable = lib.mkEnableOption "printing through CUPS";

  config = lib.mkIf config.ox.printing.enable {
    environment.systemPackages = [ pkgs.cups ];
  };
}
