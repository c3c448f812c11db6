# networking.hostName, domain, fqdn, hosts, extraHosts → /etc/hostname
# and /etc/hosts (rendered by ox-system).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.networking;
in
{
  options.networking = {
    hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
      description = ''
        The name of the machine (a valid DNS label: letters, digits,
        `-` and `_`, at most 63 characters).
      '';
    };
    domain = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "The domain; with hostName it forms the FQDN.";
    };
    fqdn = mkOption {
      type = types.str;
      readOnly = true;
      default = if cfg.domain != null then "${cfg.hostName}.${cfg.domain}" else cfg.hostName;
      defaultText = lib.literalExpression ''"''${networking.hostName}.''${networking.domain}"'';
      description = "The fully qualified domain name (read-only).";
    };
    hosts = mkOption {
      type = types.attrsOf (types.listOf types.str);
      example = { "127.0.0.1" = [ "foo.bar.baz" ]; "192.168.0.2" = [ "fileserver.local" "nameserver.local" ]; };
      description = "Locally defined maps of hostnames to IP addresses (/etc/hosts).";
    };
    extraHosts = mkOption {
      type = types.lines;
      default = "";
      description = "Additional verbatim entries appended to /etc/hosts.";
    };
  };

  # Debian maps its own name to 127.0.1.1 (NixOS uses 127.0.0.2)
  config.networking.hosts = lib.mkIf (cfg.hostName != "") {
    "127.0.1.1" = lib.optional (cfg.domain != null) cfg.fqdn ++ [ cfg.hostName ];
  };
}
