# deployment.*: where `ox deploy` finds a host, with colmena's option
# names so a colmena hive's node settings carry over. Nothing here
# changes the host's own system; only the deployer reads these.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.deployment = {
    targetHost = mkOption {
      type = types.nullOr types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      description = ''
        The address (or a name ssh resolves, including a `Host` alias of
        ~/.ssh/config) `ox deploy` connects to. Defaults to the host's
        `networking.hostName`. `null` makes the host impossible to deploy
        over SSH (`ox deploy` reports it instead of guessing).
      '';
    };
    targetUser = mkOption {
      type = types.str;
      default = "root";
      description = ''
        The user `ox deploy` logs in as. Anyone but root runs the remote
        side through `deployment.elevate` (without a password unless
        `ox deploy --ask-elevate-password` is given).
      '';
    };
    elevate = mkOption {
      type = types.enum [ "sudo" "doas" "run0" ];
      default = "sudo";
      description = ''
        How a non-root `targetUser` becomes root on the host: `sudo -n`,
        `doas -n` or `run0 --no-ask-password`. With
        `ox deploy --ask-elevate-password` sudo gets the password on the
        SSH channel's stdin (`sudo -k -S -p ""`); doas and run0 read a
        password only from a terminal or a polkit agent, so they need a
        rule that asks none.
      '';
    };
    targetPort = mkOption {
      type = types.nullOr types.port;
      default = null;
      description = ''
        The SSH port. `null` leaves it to ssh (its configuration, else 22).
      '';
    };
    tags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "dns" "rack-a" ];
      description = ''
        Labels for selecting hosts: `ox deploy --on @dns` deploys every
        host tagged `dns` (`@rack-*` globs work too).
      '';
    };
    healthChecks = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "systemctl is-active nginx.service" "curl -fsS http://localhost/healthz" ];
      description = ''
        Shell commands `ox deploy` runs on the host after switching, over
        the fresh SSH connection that confirms the switch. The switch is
        confirmed only once every command exits 0 (tried again until
        `--confirm-timeout` runs out); otherwise the host rolls back to
        the previous generation by itself.
      '';
    };
    sshOptions = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "ProxyJump=bastion" ];
      description = ''
        Extra ssh `-o` options (`Key=Value`) for this host, before those
        given with `ox deploy --ssh-option`.
      '';
    };
  };
}
