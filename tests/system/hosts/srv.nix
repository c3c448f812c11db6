# A server written as a NixOS module, using only options ox supports.
{ config, lib, pkgs, motd, ... }:
{
  networking.hostName = "srv";
  networking.domain = "lan";
  networking.hosts."10.0.0.2" = [ "stein" ];
  time.timeZone = "Europe/Berlin";
  i18n.defaultLocale = "en_US.UTF-8";
  console.keyMap = "de";
  system.stateVersion = "25.05";

  environment.systemPackages = [ pkgs.git pkgs.htop ] ++ lib.optional (motd == "v2") pkgs.curl;
  environment.etc."motd".source = ./files/motd;
  environment.etc."ox/version".text = "${motd}\n";
  environment.variables.EDITOR = "vim";
  environment.shellAliases.ll = "ls -l";

  services.openssh = {
    enable = true;
    ports = [ 22 2222 ];
    settings.PasswordAuthentication = false;
  };
  security.sudo.wheelNeedsPassword = false;

  users.mutableUsers = false;
  users.users.ops = {
    isNormalUser = true;
    extraGroups = [ "wheel" ];
    openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAW6Nq2 ops@test" ];
  };
  users.users.backup = { isSystemUser = true; group = "backup"; };
  users.groups.backup = { };

  systemd.services.backup = {
    description = "Nightly backup";
    startAt = "*-*-* 03:15:00";
    path = [ pkgs.git ];
    serviceConfig.Type = "oneshot";
    serviceConfig.User = "backup";
    script = ''
      echo "backing up (${motd})"
    '';
  };
  systemd.services.web = {
    wantedBy = [ "multi-user.target" ];
    after = [ "network.target" ];
    restartTriggers = [ config.environment.etc."ox/version".text ];
    serviceConfig.ExecStart = "${pkgs.git}/bin/git daemon --base-path=/srv/git";
    serviceConfig.Restart = lib.mkDefault "on-failure";
  };
  systemd.tmpfiles.rules = [ "d /srv/git 0755 root root -" ];

  fileSystems."/" = { device = "/dev/disk/by-label/root"; fsType = "ext4"; };
  fileSystems."/srv" = { device = "/dev/mapper/data"; fsType = "xfs"; options = [ "noatime" ]; };
  swapDevices = [ { device = "/dev/vda3"; } ];
  boot.initrd.luks.devices.data = { device = "/dev/vdb"; keyFile = "/etc/keys/data.key"; };

  sops.secrets."db/password" = { sopsFile = ./files/secrets.yaml; owner = "backup"; restartUnits = [ "backup.service" ]; };
  sops.templates."db.env".content = "PASSWORD=${config.sops.placeholder."db/password"}\n";

  assertions = [ { assertion = config.networking.hostName == "srv"; message = "srv only"; } ];
}
