{ config, lib, ... }:
{
  options.ox.ssh.enable = lib.mkEnableOption "the OpenSSH server";

  config = lib.mkIf config.ox.ssh.enable {
    services.openssh = {
      enable = true;
      ports = [ 22 ];
      settings = {
        PasswordAuthentication = false;
        PermitRootLogin = "prohibit-password";
      };
    };
  };
}
