# schere's disk: GRUB's BIOS boot partition, an ESP, and one btrfs file
# system with subvolumes for /, /home, /ox (the store) and /var/log.
# `ox disko --flake .#schere --mode destroy,format,mount --dry-run`
# prints what `ox install` would run.
{
  disko.devices.disk.main = {
    device = "/dev/disk/by-id/nvme-SAMSUNG_MZVL2512HCJQ-00B00_S675NX0T123456";
    content = {
      type = "gpt";
      partitions = {
        bios = { size = "1M"; type = "EF02"; };
        ESP = {
          size = "512M";
          type = "EF00";
          content = {
            type = "filesystem";
            format = "vfat";
            mountpoint = "/boot/efi";
            mountOptions = [ "umask=0077" ];
          };
        };
        root = {
          size = "100%";
          content = {
            type = "btrfs";
            extraArgs = [ "-f" "-L" "schere" ];
            subvolumes = {
              "@root" = { mountpoint = "/"; mountOptions = [ "compress=zstd" "noatime" ]; };
              "@home" = { mountpoint = "/home"; mountOptions = [ "compress=zstd" "noatime" ]; };
              "@ox" = { mountpoint = "/ox"; mountOptions = [ "compress=zstd" "noatime" ]; };
              "@log" = { mountpoint = "/var/log"; mountOptions = [ "compress=zstd" "noatime" ]; };
            };
          };
        };
      };
    };
  };
}
