# Enduser machines mount the NAS shares.
{ config, lib, pkgs, ... }:
{
  options.ox.samba.enable = lib.mkEnableOption "the NAS's SMB shares";

  config = lib.mkIf config.ox.samba.enable {
    environment.systemPackages = [ pkgs.cifs-utils ];
    fileSystems."/mnt/nas" = {
      device = "//fels.home.arpa/share";
      fsType = "cifs";
      options = [ "noauto" "x-systemd.automount" "credentials=/etc/ox/smb-credentials" ];
    };
  };
}
