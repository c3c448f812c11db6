# The NAS: serves the shares the desktops mount.
{ ... }:
{
  ox = {
    hostName = "fels";
    roles = [ "server" "nas" ];
    networking.enable = true;
  };
  fileSystems."/srv/share" = {
    device = "/dev/disk/by-label/tank";
    fsType = "btrfs";
    options = [ "subvol=share" "compress=zstd" ];
  };
  systemd.tmpfiles.rules = [ "d /srv/share 0775 root users -" ];
}
