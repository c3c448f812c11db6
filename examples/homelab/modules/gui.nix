{ config, lib, pkgs, ... }:
{
  options.ox.gui.enable = lib.mkEnableOption "the graphical desktop";

  config = lib.mkIf config.ox.gui.enable {
    environment.systemPackages = [ pkgs.foot pkgs.firefox-esr ];
    environment.sessionVariables = lib.mkIf config.ox.wayland.enable {
      NIXOS_OZONE_WL = "1";
      MOZ_ENABLE_WAYLAND = "1";
    };
  };
}
