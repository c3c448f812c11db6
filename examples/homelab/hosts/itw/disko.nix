# itw's disks: the system SSD (ESP, Windows' partition left unformatted,
# the encrypted root) and the games SSD (encrypted with a key file,
# unlocked through the host's own crypttab entry, hence no initrdUnlock).
# The ESP mountpoint and the LUKS name match what modules/boot.nix
# declares for ox.boot.efi.dir and ox.boot.cryptPart.
{
  disko.devices.disk = {
    system = {
      device = "/dev/disk/by-id/nvme-WD_BLACK_SN850X_2000GB_23184K800123";
      content = {
        type = "gpt";
        partitions = {
          ESP = {
            size = "1G";
            type = "EF00";
            content = { type = "filesystem"; format = "vfat"; mountpoint = "/boot/EFI"; mountOptions = [ "umask=0077" ]; };
          };
          windows = { size = "256G"; type = "0700"; };
          root = {
            size = "100%";
            content = {
              type = "luks";
              name = "crypt";
              passwordFile = "/tmp/itw-root.passphrase";
              content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; };
            };
          };
        };
      };
    };
    games = {
      device = "/dev/disk/by-id/nvme-Samsung_SSD_990_PRO_4TB_S7DPNJ0W654321";
      content = {
        type = "gpt";
        partitions.games = {
          size = "100%";
          content = {
            type = "luks";
            name = "games";
            settings.keyFile = "/etc/luks-keys/games.key";
            initrdUnlock = false;
            content = { type = "filesystem"; format = "ext4"; mountpoint = "/games"; mountOptions = [ "noatime" ]; };
          };
        };
      };
    };
  };
}
