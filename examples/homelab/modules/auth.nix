# Admin user and sudo, on every machine.
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
    };
    security.sudo.wheelNeedsPassword = false;
  };
}
