# The backup server: a nightly job pulls from the NAS.
{ ... }:
{
  ox = {
    hostName = "tanne";
    roles = [ "server" ];
    networking.enable = true;
  };
  systemd.services.backup-pull = {
    description = "Pull the NAS shares into the backup pool";
    startAt = "*-*-* 03:15:00";
    path = [ "/usr/bin" ];
    serviceConfig.Type = "oneshot";
    script = ''
      echo "backing up fels:/srv/share"
    '';
  };
}
