# Admin user and sudo, on every machine. The admin's password hash is a
# fleet-wide sops secret (secrets/common.yaml, encrypted to every host's
# key), decrypted before users are created.
{ config, lib, ... }:
let cfg = config.ox.auth; in
{
  options.ox.auth = {
    enable = lib.mkEnableOption "the fleet's admin account";
    user = lib.mkOption {
      type = lib.types.str;
      default = "ops";
      description = "The admin account present on every host.";
    };
    authorizedKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAW6Nq2Fb0sVUIz2xv1T1Oq0ENnN4eYtY1ZDkJ3m3pKu ops@example (test key)"
      ];
      description = "Public keys allowed to log in as the admin account.";
    };
  };

  config = lib.mkIf cfg.enable {
    users.users.${cfg.user} = {
      isNormalUser = true;
      description = "Fleet operator";
      extraGroups = [ "sudo" ];
      shell = "/bin/bash";
      openssh.authorizedKeys.keys = cfg.authorizedKeys;
      hashedPasswordFile = lib.mkIf (config.sops.secrets ? "ops/password-hash")
        (lib.mkDefault config.sops.secrets."ops/password-hash".path);
    };
    sops.secrets."ops/password-hash" = {
      sopsFile = ../secrets/common.yaml;
      neededForUsers = true;
    };
    security.sudo.wheelNeedsPassword = false;
  };
}
