# The gaming and VR desktop: NVIDIA, a 4K monitor, an encrypted games disk
# and a dual-boot Windows partition.
{ ... }:
{
  imports = [ ./disko.nix ];

  ox = {
    hostName = "itw";
    boot = {
      efi.dir = "/boot/EFI";
      cryptPart = "crypt";
    };
    roles = [ "desktop" "games" "vr" ];
    monitor.with4k = true;
    monitor.with4kFix = true;
    video = "nvidia";
    wayland.enable = true;
  };

  environment.etc.crypttab = {
    text = ''
      games /dev/disk/by-uuid/0292b609-4cd1-4b5e-9a3c-2f1e6d7c8b90 /etc/luks-keys/games.key luks
    '';
  };
  fileSystems = {
    "/games" = {
      device = "/dev/mapper/games";
      fsType = "ext4";
    };
    "/mnt/win" = {
      device = "/dev/disk/by-partuuid/3d69d556-02";
      fsType = "ntfs";
      options = [ "defaults" "noauto" ];
    };
  };
}
