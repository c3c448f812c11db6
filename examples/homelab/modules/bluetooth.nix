{ config, lib, pkgs, ... }:
{
  options.ox.bluetooth.enable = lib.mkEnableOption "Bluetooth";

  config = lib.mkIf config.ox.bluetooth.enable {
    environment.systemPackages = [ pkgs.bluez ];
    environment.etc."bluetooth/main.conf".text = ''
      [General]
      FastConnectable = true

      [Policy]
      AutoEnable = true
    '';
  };
}
