# Boot loader choice and the encrypted root, declared per host.
{ config, lib, ... }:
let cfg = config.ox.boot; in
{
  options.ox.boot = {
    enable = lib.mkEnableOption "the boot configuration";
    type = lib.mkOption {
      type = lib.types.enum [ "grub" "systemd-boot" ];
      default = "systemd-boot";
      description = "Which boot loader the host uses.";
    };
    efi.enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether the machine boots through UEFI.";
    };
    efi.dir = lib.mkOption {
      type = lib.types.str;
      default = "/boot/efi";
      description = "Where the EFI system partition is mounted.";
    };
    cryptPart = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "Name of the LUKS mapping holding the root file system.";
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      # a host with a declared disk layout (disko.devices) gets its root
      # file system from the layout instead
      fileSystems."/" = lib.mkIf (config.disko.devices.disk == { }) (lib.mkDefault {
        device = if cfg.cryptPart != null then "/dev/mapper/${cfg.cryptPart}" else "/dev/disk/by-label/root";
        fsType = "ext4";
      });
      environment.etc."ox/boot-loader".text = ''
        loader=${cfg.type}
        efi=${lib.boolToString cfg.efi.enable}
      '';
    }
    (lib.mkIf cfg.efi.enable {
      fileSystems.${cfg.efi.dir} = {
        device = "/dev/disk/by-label/ESP";
        fsType = "vfat";
        options = [ "umask=0077" ];
      };
    })
    (lib.mkIf (cfg.cryptPart != null) {
      boot.initrd.luks.devices.${cfg.cryptPart}.device = "/dev/disk/by-label/crypt-root";
    })
  ]);
}
