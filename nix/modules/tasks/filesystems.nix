# fileSystems, swapDevices → /etc/fstab; boot.initrd.luks.devices →
# /etc/crypttab (Debian's initramfs and systemd-cryptsetup read it).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;

  fsOpts = { name, config, ... }: {
    options = {
      mountPoint = mkOption {
        type = types.str;
        default = name;
        example = "/mnt/usb";
        description = "Location of the mounted file system.";
      };
      device = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/dev/sda";
        description = "Location of the device.";
      };
      label = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "root-partition";
        description = "Label of the device (if any).";
      };
      fsType = mkOption {
        type = types.str;
        default = "auto";
        example = "ext3";
        description = "Type of the file system.";
      };
      options = mkOption {
        type = types.nonEmptyListOf types.str;
        default = [ "defaults" ];
        example = [ "data=journal" ];
        description = "Options used to mount the file system.";
      };
      neededForBoot = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the file system is mounted in the initrd (Debian: mounted by systemd from fstab).";
      };
      noCheck = mkOption {
        type = types.bool;
        default = false;
        description = "Disable running fsck on this filesystem.";
      };
      depends = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Mount points this one depends on.";
      };
    };
  };

  swapOpts = { config, ... }: {
    options = {
      device = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/dev/sda3";
        description = "Path of the device or swap file.";
      };
      label = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Label of the device.";
      };
      size = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "Accepted for NixOS compatibility (swap files are not created by ox).";
      };
      priority = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "Specify the priority of the swap device.";
      };
      discardPolicy = mkOption {
        type = types.nullOr (types.enum [ "once" "pages" "both" ]);
        default = null;
        description = "Specify the discard policy for the swap device.";
      };
      options = mkOption {
        type = types.nonEmptyListOf types.nonEmptyStr;
        default = [ "defaults" ];
        description = "Options used to mount the swap.";
      };
    };
  };

  luksOpts = { name, ... }: {
    options = {
      name = mkOption { type = types.str; default = name; internal = true; description = "Name of the mapping."; };
      device = mkOption {
        type = types.str;
        example = "/dev/disk/by-uuid/430e9eff-d852-4f68-aa3b-2fa3599ebe08";
        description = "Path of the underlying encrypted block device.";
      };
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The key file to unlock the device with; null asks for a passphrase.";
      };
      allowDiscards = mkOption { type = types.bool; default = false; description = "Whether to allow TRIM requests to the underlying device."; };
      bypassWorkqueues = mkOption { type = types.bool; default = false; description = "Whether to bypass dm-crypt's internal read and write workqueues."; };
      crypttabExtraOpts = mkOption {
        type = types.listOf types.singleLineStr;
        default = [ ];
        example = [ "fido2-device=auto" ];
        description = "Additional crypttab(5) options.";
      };
      preLVM = mkOption { type = types.bool; default = true; description = "Accepted for NixOS compatibility."; };
      fallbackToPassword = mkOption { type = types.bool; default = false; description = "Accepted for NixOS compatibility."; };
    };
  };
in
{
  options = {
    fileSystems = mkOption {
      default = { };
      example = lib.literalExpression ''
        { "/".device = "/dev/hda1";
          "/data" = { device = "/dev/hda2"; fsType = "ext3"; options = [ "data=journal" ]; };
        }
      '';
      type = types.attrsOf (types.submodule fsOpts);
      description = "The file systems to be mounted (/etc/fstab).";
    };
    swapDevices = mkOption {
      default = [ ];
      example = [ { device = "/dev/hda7"; } { label = "bigswap"; } ];
      type = types.listOf (types.submodule swapOpts);
      description = "The swap devices and swap files (/etc/fstab).";
    };
    boot.initrd.luks.devices = mkOption {
      default = { };
      example = { luksroot.device = "/dev/disk/by-uuid/430e9eff-d852-4f68-aa3b-2fa3599ebe08"; };
      type = types.attrsOf (types.submodule luksOpts);
      description = "The encrypted disk that should be opened before the root filesystem is mounted (/etc/crypttab on Debian).";
    };
    boot.initrd.checkJournalingFS = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to run fsck on journaling filesystems such as ext3.";
    };
  };

  config.assertions = lib.mapAttrsToList (name: fs: {
    assertion = fs.device != null || fs.label != null;
    message = "fileSystems.\"${name}\": set `device` or `label` (which device is mounted at ${fs.mountPoint}?).";
  }) config.fileSystems
  ++ lib.imap1 (i: sw: {
    assertion = sw.device != null || sw.label != null;
    message = "swapDevices (entry ${toString i}): set `device` or `label`.";
  }) config.swapDevices;
}
