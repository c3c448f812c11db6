# Authoritative DNS: schere is the primary, stein the secondary. The
# primary's API key is a sops secret rendered into an environment file
# owned by pdns:pdns; it never reaches the store.
{ config, lib, pkgs, ... }:
let
  cfg = config.ox.powerdns;
  baseExtraConfig = ''
    launch=gsqlite3
    gsqlite3-database=/var/lib/powerdns/pdns.sqlite3
    local-address=0.0.0.0
    local-port=53
  '';
  roleConfig =
    if cfg.secondary then ''
      secondary=yes
      autosecondary=yes
      allow-notify-from=${cfg.primaryAddress}
    '' else ''
      primary=yes
      api=yes
      webserver-address=127.0.0.1
      also-notify=${lib.concatStringsSep "," cfg.secondaries}
    '';
in
{
  options.ox.powerdns = {
    enable = lib.mkEnableOption "the PowerDNS authoritative server";
    secondary = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether this server is a secondary that receives zones by AXFR.";
    };
    primaryAddress = lib.mkOption {
      type = lib.types.str;
      default = "10.20.0.2";
      description = "Address of the primary, allowed to send NOTIFY.";
    };
    secondaries = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ "10.20.0.3" ];
      description = "Addresses the primary notifies of zone changes.";
    };
  };

  config = lib.mkIf cfg.enable {
    users.users.pdns = {
      isSystemUser = true;
      group = "pdns";
      home = "/var/lib/powerdns";
      createHome = true;
    };
    users.groups.pdns = { };

    sops.secrets."powerdns/api-key" = lib.mkIf (!cfg.secondary) {
      sopsFile = ../secrets/dns.yaml;
    };
    sops.templates."pdns-env" = lib.mkIf (!cfg.secondary) {
      content = ''
        PDNS_API_KEY=${config.sops.placeholder."powerdns/api-key"}
      '';
      owner = "pdns";
      group = "pdns";
      mode = "0400";
    };

    environment.systemPackages = [ pkgs.pdns-server pkgs.pdns-backend-sqlite3 ];
    environment.etc."powerdns/pdns.d/ox.conf".text = baseExtraConfig + roleConfig;

    systemd.services.pdns = {
      description = "PowerDNS authoritative server (${if cfg.secondary then "secondary" else "primary"})";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      restartTriggers = [ config.environment.etc."powerdns/pdns.d/ox.conf".text ];
      serviceConfig = {
        ExecStart = "/usr/sbin/pdns_server --guardian=no --daemon=no --disable-syslog --write-pid=no";
        User = "pdns";
        Group = "pdns";
        Restart = "on-failure";
        EnvironmentFile = lib.mkIf (!cfg.secondary) config.sops.templates."pdns-env".path;
      };
    };
  };
}
