# disko-style declared disk layouts: `disko.devices.disk.<name>` with
# disko's option names. From the layout this module derives
# `fileSystems`, `swapDevices` and `boot.initrd.luks.devices` (at
# mkDefault level, so a host can override any of them) and exports the
# normalised layout as `system.build.diskoLayout`, which `ox disko` and
# `ox install` (crate ox-disko) turn into an ordered plan. docs/disko.md.
#
# Content nests to a fixed depth (disk → gpt partition → luks →
# filesystem) instead of disko's open recursion, so every level is an
# ordinary typed submodule and option docs stay finite.
{ config, lib, ... }:
let
  inherit (lib) mkOption mkDefault types;

  sizeType = types.strMatching "[0-9]+[KMGTP]?|100%";

  subvolumeModule = { name, ... }: {
    options = {
      name = mkOption {
        type = types.str;
        default = name;
        description = "Path of the subvolume inside the btrfs file system.";
      };
      mountpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/home";
        description = "Where the subvolume is mounted (null: not mounted).";
      };
      mountOptions = mkOption {
        type = types.listOf types.str;
        default = [ "defaults" ];
        example = [ "compress=zstd" "noatime" ];
        description = "Mount options; `subvol=<name>` is added.";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Extra arguments for `btrfs subvolume create`.";
      };
    };
  };

  # The options of one content node. `level` is "disk", "partition" or
  # "luks" and decides which types are allowed and whether the node has
  # `partitions` (disk) or an inner `content` (disk, partition: for luks).
  contentModule = level: { ... }: {
    options = {
      type = mkOption {
        type = types.enum ({
          disk = [ "gpt" "filesystem" "btrfs" "luks" "swap" ];
          partition = [ "filesystem" "btrfs" "luks" "swap" ];
          luks = [ "filesystem" "btrfs" "swap" ];
        }.${level});
        description = "What this device holds.";
      };
      # filesystem
      format = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ext4";
        description = "type = \"filesystem\": the file system (`mkfs.<format>`: ext4, vfat, xfs, btrfs, …).";
      };
      mountpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/";
        description = "type = \"filesystem\" or \"btrfs\": where it is mounted.";
      };
      mountOptions = mkOption {
        type = types.listOf types.str;
        default = [ "defaults" ];
        description = "Mount options (filesystem, btrfs) or swap options (swap).";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "-L" "nixos" ];
        description = "Extra arguments for mkfs / mkswap.";
      };
      # btrfs
      subvolumes = mkOption {
        type = types.attrsOf (types.submodule subvolumeModule);
        default = { };
        description = "type = \"btrfs\": subvolumes, by path.";
      };
      # swap
      priority = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "type = \"swap\": swap priority.";
      };
      discardPolicy = mkOption {
        type = types.nullOr (types.enum [ "once" "pages" "both" ]);
        default = null;
        description = "type = \"swap\": discard policy.";
      };
      resumeDevice = mkOption {
        type = types.bool;
        default = false;
        description = "type = \"swap\": resume from hibernation from this device (accepted; ox records it only in the layout).";
      };
      randomEncryption = mkOption {
        type = types.bool;
        default = false;
        description = "type = \"swap\": not supported by ox (no mkswap is run when set).";
      };
      # luks
      name = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "crypted";
        description = "type = \"luks\": the mapping name (`/dev/mapper/<name>`).";
      };
      settings = mkOption {
        type = types.attrsOf types.anything;
        default = { };
        example = { allowDiscards = true; keyFile = "/tmp/secret.key"; };
        description = "type = \"luks\": `boot.initrd.luks.devices.<name>` settings; `keyFile` is also used to format and open the device.";
      };
      passwordFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/tmp/secret.key";
        description = "type = \"luks\": file holding the passphrase used to format and open (a trailing newline is dropped).";
      };
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "type = \"luks\": deprecated alias of `settings.keyFile`.";
      };
      additionalKeyFiles = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "type = \"luks\": more key files added with `cryptsetup luksAddKey`.";
      };
      initrdUnlock = mkOption {
        type = types.bool;
        default = true;
        description = "type = \"luks\": add the device to `boot.initrd.luks.devices` (/etc/crypttab).";
      };
      extraFormatArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "--pbkdf" "pbkdf2" ];
        description = "type = \"luks\": extra arguments for `cryptsetup luksFormat`.";
      };
      extraOpenArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "type = \"luks\": extra arguments for `cryptsetup open`.";
      };
    } // lib.optionalAttrs (level != "luks") {
      content = mkOption {
        type = types.nullOr (types.submodule (contentModule "luks"));
        default = null;
        description = "type = \"luks\": what the opened device holds.";
      };
    } // lib.optionalAttrs (level == "disk") {
      partitions = mkOption {
        type = types.attrsOf (types.submodule partitionModule);
        default = { };
        description = "type = \"gpt\": the partitions, by name.";
      };
    };
  };

  partitionModule = { name, config, ... }: {
    options = {
      name = mkOption {
        type = types.str;
        default = name;
        description = "Name of the partition (part of its default label).";
      };
      size = mkOption {
        type = sizeType;
        default = "0";
        example = "512M";
        description = "Size (`<n>[KMGTP]`) or \"100%\" (the rest of the disk).";
      };
      start = mkOption {
        type = types.str;
        default = "0";
        description = "Start sector or offset for `sgdisk --new` (0: the next free aligned one).";
      };
      end = mkOption {
        type = types.str;
        default = if config.size == "100%" then "-0" else "+${config.size}";
        defaultText = "+size, or -0 for 100%";
        description = "End for `sgdisk --new`.";
      };
      type = mkOption {
        type = types.strMatching "[A-Fa-f0-9]{4}|[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}";
        default = if config.content != null && config.content.type == "swap" then "8200" else "8300";
        example = "EF00";
        description = "GPT type code (sgdisk's `EF00`, `EF02`, `8300`, `8200`, …) or type GUID.";
      };
      priority = mkOption {
        type = types.int;
        default = if config.type == "EF02" then 100 else if config.size == "100%" then 9001 else 1000;
        defaultText = "100 for EF02, 9001 for 100%, else 1000";
        description = "Partitions are created in ascending priority (then name) order; that order gives their numbers.";
      };
      label = mkOption {
        type = types.nullOr types.str;
        default = null;
        defaultText = "disk-<disk>-<name> (sha256-truncated to 36 characters when longer)";
        description = "GPT partition name (PARTLABEL); devices are referred to by it.";
      };
      uuid = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Partition GUID (default: random).";
      };
      content = mkOption {
        type = types.nullOr (types.submodule (contentModule "partition"));
        default = null;
        description = "What the partition holds (null: left unformatted).";
      };
    };
  };

  nodevModule = { name, ... }: {
    options = {
      fsType = mkOption {
        type = types.str;
        example = "tmpfs";
        description = "File system type (a file system without a device: tmpfs, …).";
      };
      device = mkOption {
        type = types.str;
        default = "none";
        description = "The mount source.";
      };
      mountpoint = mkOption {
        type = types.str;
        default = name;
        description = "Where it is mounted.";
      };
      mountOptions = mkOption {
        type = types.listOf types.str;
        default = [ "defaults" ];
        example = [ "size=2G" "mode=755" ];
        description = "Mount options.";
      };
    };
  };

  diskModule = { name, config, ... }: {
    options = {
      name = mkOption {
        type = types.str;
        default = lib.replaceStrings [ "/" ] [ "_" ] name;
        description = "Name of the disk (part of default partition labels).";
      };
      type = mkOption {
        type = types.enum [ "disk" ];
        default = "disk";
        description = "Always \"disk\".";
      };
      device = mkOption {
        type = types.str;
        example = "/dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S64";
        description = "The block device.";
      };
      destroy = mkOption {
        type = types.bool;
        default = true;
        description = "Whether mode `destroy` wipes this disk.";
      };
      imageName = mkOption {
        type = types.str;
        default = config.name;
        defaultText = "the disk's name";
        description = "File name (without `.raw`) of this disk's image (`ox disko --images DIR`, `ox install --images DIR`).";
      };
      imageSize = mkOption {
        type = types.strMatching "[0-9]+[KMGT]?";
        default = "2G";
        example = "60G";
        description = "Size of this disk's image file (sparse).";
      };
      content = mkOption {
        type = types.nullOr (types.submodule (contentModule "disk"));
        default = null;
        description = "What the disk holds (a `gpt` table or a whole-disk file system).";
      };
    };
  };

  partLabel = diskName: p:
    if p.label != null then p.label
    else
      let l = "disk-${diskName}-${p.name}"; in
      if lib.stringLength l > 36 then builtins.substring 0 36 (builtins.hashString "sha256" l) else l;

  # The normalised content tree: every node knows its device path (the
  # stable one a booted system uses: /dev/disk/by-partlabel/…,
  # /dev/mapper/…). `where` names the node in messages.
  norm = diskName: where: device: c:
    if c == null then null
    else
      let
        base = { inherit (c) type; inherit device where; };
      in
      if c.type == "gpt" then base // {
        partitions =
          let
            ps = lib.sort (a: b: if a.priority != b.priority then a.priority < b.priority else a.name < b.name)
              (lib.attrValues c.partitions);
          in
          lib.imap1 (i: p:
            let
              label = partLabel diskName p;
              dev = if p.uuid != null then "/dev/disk/by-partuuid/${p.uuid}" else "/dev/disk/by-partlabel/${label}";
            in {
              index = i;
              inherit (p) name size start end priority uuid;
              typecode = p.type;
              inherit label;
              device = dev;
              content = norm diskName "${where}.partitions.${p.name}.content" dev p.content;
            }) ps;
      }
      else if c.type == "filesystem" then base // { inherit (c) format mountpoint mountOptions extraArgs; }
      else if c.type == "btrfs" then base // {
        inherit (c) mountpoint mountOptions extraArgs;
        subvolumes = map (s: { inherit (s) name mountpoint mountOptions extraArgs; })
          (lib.sort (a: b: a.name < b.name) (lib.attrValues c.subvolumes));
      }
      else if c.type == "swap" then base // { inherit (c) priority discardPolicy resumeDevice randomEncryption extraArgs mountOptions; }
      else base // {
        inherit (c) name passwordFile additionalKeyFiles initrdUnlock extraFormatArgs extraOpenArgs settings;
        keyFile = c.settings.keyFile or c.keyFile;
        content = norm diskName "${where}.content" "/dev/mapper/${toString c.name}" c.content;
      };

  disks = lib.mapAttrsToList (attr: d: {
    inherit (d) name device destroy imageName imageSize;
    content = norm d.name "disko.devices.disk.${attr}.content" d.device d.content;
  }) config.disko.devices.disk;

  # every node of the normalised tree, depth first
  nodes = c:
    if c == null then [ ]
    else [ c ]
      ++ lib.concatMap (p: nodes p.content) (c.partitions or [ ])
      ++ (if c.type == "luks" then nodes c.content else [ ]);
  allNodes = lib.concatMap (d: nodes d.content) disks;

  diskMounts = lib.concatMap (n:
    if n.type == "filesystem" && n.mountpoint != null then
      [ { inherit (n) device mountpoint; fsType = n.format; options = n.mountOptions; } ]
    else if n.type == "btrfs" then
      lib.optional (n.mountpoint != null) { inherit (n) device mountpoint; fsType = "btrfs"; options = n.mountOptions; }
      ++ map (s: { inherit (n) device; inherit (s) mountpoint; fsType = "btrfs"; options = s.mountOptions ++ [ "subvol=${s.name}" ]; })
        (lib.filter (s: s.mountpoint != null) n.subvolumes)
    else [ ]) allNodes;

  nodevs = lib.mapAttrsToList (_: n: { inherit (n) fsType device mountpoint mountOptions; })
    config.disko.devices.nodev;
  mounts = diskMounts ++ map (n: { inherit (n) device mountpoint fsType; options = n.mountOptions; }) nodevs;

  swaps = lib.filter (n: n.type == "swap") allNodes;
  lukses = lib.filter (n: n.type == "luks") allNodes;

  # the raw content nodes with where they are declared, for the checks
  rawNodes = where: c:
    if c == null then [ ]
    else [ { inherit where c; } ]
      ++ lib.concatLists (lib.mapAttrsToList (n: p: rawNodes "${where}.partitions.${n}.content" p.content) (c.partitions or { }))
      ++ rawNodes "${where}.content" (c.content or null);
  allRaw = lib.concatLists (lib.mapAttrsToList (attr: d: rawNodes "disko.devices.disk.${attr}.content" d.content)
    config.disko.devices.disk);

  # type-specific fields set on a node of another type are mistakes
  misuse = lib.concatMap ({ where, c }:
    let
      bad = field: types': cond:
        lib.optional (cond && !(lib.elem c.type types'))
          "${where}: `${field}` is only used with type = ${lib.concatMapStringsSep " or " (t: "\"${t}\"") types'} (this is type = \"${c.type}\")";
    in
    bad "format" [ "filesystem" ] (c.format != null)
    ++ bad "subvolumes" [ "btrfs" ] (c.subvolumes != { })
    ++ bad "mountpoint" [ "filesystem" "btrfs" ] (c.mountpoint != null)
    ++ bad "partitions" [ "gpt" ] ((c.partitions or { }) != { })
    ++ bad "content" [ "luks" ] ((c.content or null) != null)
    ++ bad "name" [ "luks" ] (c.name != null)
    ++ bad "passwordFile" [ "luks" ] (c.passwordFile != null)
    ++ lib.optional (c.type == "filesystem" && c.format == null) "${where}: type = \"filesystem\" needs `format` (e.g. \"ext4\")"
    ++ lib.optional (c.type == "luks" && c.name == null) "${where}: type = \"luks\" needs `name` (the /dev/mapper name)"
    ++ lib.optional (c.type == "gpt" && (c.partitions or { }) == { }) "${where}: type = \"gpt\" needs at least one partition"
  ) allRaw;

  mountpoints = map (m: m.mountpoint) mounts;
  dupMounts = lib.filter (mp: lib.length (lib.filter (x: x == mp) mountpoints) > 1) (lib.unique mountpoints);
in
{
  options.disko = {
    devices = {
      disk = mkOption {
        type = types.attrsOf (types.submodule diskModule);
        default = { };
        description = "The disks of the host and their layout (disko's `disko.devices.disk`).";
      };
      nodev = mkOption {
        type = types.attrsOf (types.submodule nodevModule);
        default = { };
        example = { "/" = { fsType = "tmpfs"; mountOptions = [ "size=2G" "mode=755" ]; }; };
        description = "File systems without a device (tmpfs …), mounted with the disks (disko's `disko.devices.nodev`).";
      };
    };
    enableConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Derive `fileSystems`, `swapDevices` and `boot.initrd.luks.devices` from the layout.";
    };
  };

  config = lib.mkMerge [
    {
      system.build.diskoLayout = { inherit disks mounts; nodev = nodevs; };
      assertions = map (m: { assertion = false; message = m; }) misuse
        ++ map (mp: { assertion = false; message = "disko.devices: mountpoint ${mp} is declared more than once"; }) dupMounts;
    }
    (lib.mkIf config.disko.enableConfig {
      fileSystems = lib.listToAttrs (map (m: lib.nameValuePair m.mountpoint {
        device = mkDefault m.device;
        fsType = mkDefault m.fsType;
        options = mkDefault m.options;
      }) mounts);
      swapDevices = mkDefault (map (s: {
        inherit (s) device priority discardPolicy;
        options = s.mountOptions;
      }) (lib.filter (s: !s.randomEncryption) swaps));
      boot.initrd.luks.devices = lib.listToAttrs (map (l: lib.nameValuePair l.name
        (lib.mapAttrs (_: mkDefault) ({ inherit (l) device; } // l.settings)))
        (lib.filter (l: l.initrdUnlock) lukses));
    })
  ];
}
