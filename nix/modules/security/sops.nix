# sops-nix's options: secrets in sops files, decrypted only at activation
# (ox-activate calls ox-sops' installer; docs/secrets.md). The toplevel
# carries the *encrypted* sops files (copied to the store, as sops-nix
# does) and template texts with placeholders; plaintext never reaches it.
#
# What activation reads is `system.build.oxSecrets`, the manifest object
# docs/toplevel.md describes (sops-nix's manifest.json field names), or
# `[ ]` when the host declares no secrets and no templates.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.sops;

  formats = [ "yaml" "json" "binary" "dotenv" "ini" ];

  # The one definition of the placeholder form lives in ox-sops
  # (`ox_sops::install::placeholder`); this is the same string, and
  # crates/ox/tests/secrets_module.rs checks that both agree.
  placeholderOf = name: "<SOPS:${builtins.hashString "sha256" name}:PLACEHOLDER>";

  # Permissions, ownership and the units to poke when the file changes:
  # the same for a secret and a rendered template.
  fileOptions = { file, it }: {
    mode = mkOption {
      type = types.str;
      default = "0400";
      description = "Permissions of the ${file}, in octal.";
    };
    owner = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "User that owns the ${file} (null: root).";
    };
    uid = mkOption {
      type = types.nullOr types.int;
      default = 0;
      description = "Numeric owner, used when `owner` is null.";
    };
    group = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Group of the ${file} (null: the owner's primary group).";
    };
    gid = mkOption {
      type = types.nullOr types.int;
      default = 0;
      description = "Numeric group, used when `group` is null.";
    };
    restartUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Units to restart when ${it} is new or changed.";
    };
    reloadUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Units to reload when ${it} is new or changed.";
    };
  };

  secretType = types.submodule ({ config, name, ... }: {
    options = fileOptions { file = "secret file"; it = "this secret"; } // {
      name = mkOption {
        type = types.str;
        default = name;
        description = "Name of the file below /run/secrets (may contain `/`).";
      };
      key = mkOption {
        type = types.str;
        default = name;
        description = ''
          Key of the value in the sops file: a `/`-separated path into a
          YAML or JSON file (`powerdns/api-key` is `powerdns: api-key:`);
          `""` means the whole file. Binary, dotenv and INI files are
          always used whole.
        '';
      };
      path = mkOption {
        type = types.str;
        default =
          if config.neededForUsers
          then "/run/secrets-for-users/${name}"
          else "${cfg.defaultSymlinkPath}/${name}";
        description = "Where the secret is reachable; other paths become a symlink to it.";
      };
      format = mkOption {
        type = types.enum formats;
        default = cfg.defaultSopsFormat;
        description = "Format of the sops file.";
      };
      sopsFile = mkOption {
        type = types.nullOr (types.either types.path types.str);
        default = cfg.defaultSopsFile;
        defaultText = "config.sops.defaultSopsFile";
        description = ''
          The sops file the secret is in. A path is copied to the store
          (it is encrypted) unless `sops.validateSopsFiles` is false,
          then it must exist on the host at activation.
        '';
      };
      neededForUsers = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Install the secret before users are created, under
          /run/secrets-for-users (root-owned), e.g. for `hashedPasswordFile`.
        '';
      };
    };
  });

  templateType = types.submodule ({ config, name, ... }: {
    options = fileOptions { file = "rendered file"; it = "the rendered file"; } // {
      name = mkOption {
        type = types.str;
        default = name;
        description = "Name of the rendered file below /run/secrets/rendered.";
      };
      path = mkOption {
        type = types.str;
        default = "${cfg.defaultSymlinkPath}/rendered/${name}";
        description = "Where the rendered file is reachable.";
      };
      content = mkOption {
        type = types.lines;
        default = "";
        description = ''
          The text, with `config.sops.placeholder.<secret>` where a
          secret's value goes. It is in the store; the values are not.
        '';
      };
    };
  });

  # A local path goes to the store (encrypted, as sops-nix does): the
  # string's context makes `ox build` copy it and reference it.
  sopsFileStr = s: f:
    if f == null then
      throw "sops.secrets.\"${s}\".sopsFile: no sops file given (set it or sops.defaultSopsFile)"
    else if cfg.validateSopsFiles && builtins.isPath f then "${f}"
    else toString f;

  noNull = lib.filterAttrs (_: v: v != null);

  secretEntry = s: noNull {
    inherit (s) name key format mode owner group restartUnits reloadUnits neededForUsers;
    uid = if s.owner == null then s.uid else null;
    gid = if s.group == null then s.gid else null;
    sopsFile = sopsFileStr s.name s.sopsFile;
    # only a path other than the default one becomes a symlink
    path = if s.path == "${cfg.defaultSymlinkPath}/${s.name}"
      || (s.neededForUsers && s.path == "/run/secrets-for-users/${s.name}")
      then null else s.path;
  };

  templateEntry = t: noNull {
    inherit (t) name content mode owner group restartUnits reloadUnits;
    uid = if t.owner == null then t.uid else null;
    gid = if t.group == null then t.gid else null;
    path = if t.path == "${cfg.defaultSymlinkPath}/rendered/${t.name}" then null else t.path;
  };

  byName = lib.sort (a: b: a.name < b.name);
  secretsList = byName (lib.attrValues cfg.secrets);
  templatesList = byName (lib.attrValues cfg.templates);
in
{
  options.sops = {
    secrets = mkOption {
      type = types.attrsOf secretType;
      default = { };
      description = "Secrets to decrypt at activation, to /run/secrets/<name>.";
    };
    templates = mkOption {
      type = types.attrsOf templateType;
      default = { };
      description = "Files rendered at activation from text with secret placeholders, to /run/secrets/rendered/<name>.";
    };
    placeholder = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = ''
        `placeholder.<secret>` is the string a template's content uses for
        that secret's value; it is set for every `sops.secrets.<name>`.
      '';
    };
    defaultSopsFile = mkOption {
      type = types.nullOr (types.either types.path types.str);
      default = null;
      description = "The sops file of secrets that do not set `sopsFile`.";
    };
    defaultSopsFormat = mkOption {
      type = types.enum formats;
      default = "yaml";
      description = "The format of sops files of secrets that do not set `format`.";
    };
    validateSopsFiles = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Copy sops files given as paths to the store (encrypted) and check
        at build time that every key exists. When false, `sopsFile` is a
        file on the host.
      '';
    };
    defaultSymlinkPath = mkOption {
      type = types.str;
      default = "/run/secrets";
      description = "The symlink to the current secrets generation.";
    };
    defaultSecretsMountPoint = mkOption {
      type = types.str;
      default = "/run/secrets.d";
      description = "Where secrets generations are written (a tmpfs).";
    };
    keepGenerations = mkOption {
      type = types.ints.unsigned or types.int;
      default = 1;
      description = "How many secrets generations to keep (at least the current one).";
    };
    age = {
      sshKeyPaths = mkOption {
        type = types.listOf types.str;
        default = [ "/etc/ssh/ssh_host_ed25519_key" ];
        description = "OpenSSH ed25519 private keys used as age identities (missing ones are skipped).";
      };
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "An age key file on the host (`AGE-SECRET-KEY-1…` lines).";
      };
    };
  };

  config = {
    sops.placeholder = lib.mapAttrs (name: _: lib.mkDefault (placeholderOf name)) cfg.secrets;

    assertions = lib.concatMap (s: [
      {
        assertion = builtins.match "0?[0-7]{3,4}" s.mode != null;
        message = "sops.secrets.\"${s.name}\".mode: expected an octal mode like \"0400\", got \"${s.mode}\"";
      }
      {
        assertion = !(lib.hasPrefix "/" s.name) && !(lib.hasPrefix "rendered/" s.name) && s.name != "rendered";
        message = "sops.secrets.\"${s.name}\": the name must be relative and not under `rendered/` (templates live there)";
      }
    ]) secretsList
    ++ map (t: {
      assertion = builtins.match "0?[0-7]{3,4}" t.mode != null;
      message = "sops.templates.\"${t.name}\".mode: expected an octal mode like \"0400\", got \"${t.mode}\"";
    }) templatesList;

    system.build.oxSecrets =
      if secretsList == [ ] && templatesList == [ ] then [ ]
      else noNull {
        secrets = map secretEntry secretsList;
        templates = map templateEntry templatesList;
        secretsMountPoint = cfg.defaultSecretsMountPoint;
        symlinkPath = cfg.defaultSymlinkPath;
        inherit (cfg) keepGenerations;
        sshKeyPaths = cfg.age.sshKeyPaths;
        ageKeyFile = cfg.age.keyFile;
        useTmpfs = true;
      };
  };
}
