# The fleet's static host table and a systemd-networkd profile.
{ config, lib, ... }:
let cfg = config.ox.networking; in
{
  options.ox.networking.enable = lib.mkEnableOption "wired networking with systemd-networkd";

  config = lib.mkMerge [
    {
      networking.hosts = {
        "10.20.0.2" = [ "schere" "ns1.home.arpa" ];
        "10.20.0.3" = [ "stein" "ns2.home.arpa" ];
        "10.20.0.10" = [ "brunnen" ];
        "10.20.0.11" = [ "fels" ];
      };
    }
    (lib.mkIf cfg.enable {
      environment.etc."systemd/network/20-wired.network".text = ''
        [Match]
        Name=en*

        [Network]
        DHCP=yes
      '';
      systemd.services.systemd-networkd-wait-online-override = {
        description = "Report the wired network as configured";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          echo "wired networking configured for ${config.networking.hostName}"
        '';
      };
    })
  ];
}
