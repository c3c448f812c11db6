# sops-nix's options (sops.secrets, sops.templates, sops.placeholder,
# sops.defaultSopsFile, sops.age.*), producing the secrets list of
# activation.json in ox-sops' manifest form (docs/secrets.md): the
# encrypted files are copied to the store (references of the toplevel),
# activation decrypts them into /run/secrets.d/N.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.sops;

  commonOpts = {
    owner = mkOption { type = types.nullOr types.str; default = null; description = "User owning the file (default root)."; };
    uid = mkOption { type = types.nullOr types.int; default = null; description = "UID owning the file (instead of owner)."; };
    group = mkOption { type = types.nullOr types.str; default = null; description = "Group of the file (default: the owner's primary group)."; };
    gid = mkOption { type = types.nullOr types.int; default = null; description = "GID of the file (instead of group)."; };
    mode = mkOption { type = types.str; default = "0400"; description = "Permissions of the file, in octal."; };
    restartUnits = mkOption { type = types.listOf types.str; default = [ ]; description = "Units restarted when the file changes."; };
    reloadUnits = mkOption { type = types.listOf types.str; default = [ ]; description = "Units reloaded when the file changes."; };
  };

  secretOpts = { name, ... }: {
    options = commonOpts // {
      name = mkOption { type = types.str; default = name; description = "Name of the file under /run/secrets."; };
      key = mkOption { type = types.str; default = name; description = "Key in the sops file (`a/b` for nested keys; \"\" for the whole file)."; };
      sopsFile = mkOption {
        type = types.nullOr types.path;
        default = cfg.defaultSopsFile;
        defaultText = lib.literalExpression "config.sops.defaultSopsFile";
        description = "The sops file the secret is in.";
      };
      format = mkOption {
        type = types.enum [ "yaml" "json" "binary" "dotenv" "ini" ];
        default = cfg.defaultSopsFormat;
        description = "The sops file's format.";
      };
      path = mkOption { type = types.str; default = "/run/secrets/${name}"; description = "Where the secret is linked."; };
      neededForUsers = mkOption { type = types.bool; default = false; description = "Decrypt before users are created (for hashedPasswordFile)."; };
    };
  };

  templateOpts = { name, ... }: {
    options = commonOpts // {
      name = mkOption { type = types.str; default = name; description = "Name of the rendered file."; };
      content = mkOption { type = types.lines; default = ""; description = "Content, with `config.sops.placeholder.<secret>` where values go."; };
      path = mkOption { type = types.str; default = "/run/secrets/rendered/${name}"; description = "Path of the rendered file."; };
    };
  };

  sopsFileStr = f: "${f}";
  entry = common: lib.filterAttrs (_: v: v != null) common;
  secretEntry = s: entry {
    inherit (s) name key format owner uid group gid mode path restartUnits reloadUnits neededForUsers;
    sopsFile = sopsFileStr s.sopsFile;
  };
  templateEntry = t: entry {
    inherit (t) name content owner uid group gid mode path restartUnits reloadUnits;
  };
in
{
  options.sops = {
    defaultSopsFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Default sops file of secrets that do not name one.";
    };
    defaultSopsFormat = mkOption {
      type = types.enum [ "yaml" "json" "binary" "dotenv" "ini" ];
      default = "yaml";
      description = "Default format of sops files.";
    };
    secrets = mkOption {
      type = types.attrsOf (types.submodule secretOpts);
      default = { };
      description = "Secrets to decrypt at activation.";
    };
    templates = mkOption {
      type = types.attrsOf (types.submodule templateOpts);
      default = { };
      description = "Files rendered at activation from placeholders of secrets.";
    };
    placeholder = mkOption {
      type = types.attrsOf types.str;
      default = { };
      visible = false;
      description = "The placeholder of each secret, for templates.";
    };
    age = {
      keyFile = mkOption { type = types.nullOr types.str; default = null; description = "An age key file on the host."; };
      sshKeyPaths = mkOption {
        type = types.listOf types.str;
        default = [ "/etc/ssh/ssh_host_ed25519_key" ];
        description = "SSH host keys used as age identities.";
      };
      generateKey = mkOption { type = types.bool; default = false; description = "Accepted for sops-nix compatibility."; };
    };
    keepGenerations = mkOption { type = types.ints.unsigned; default = 1; description = "How many secret generations to keep."; };
  };

  config = {
    assertions = lib.mapAttrsToList (name: s: {
      assertion = s.sopsFile != null;
      message = "sops.secrets.\"${name}\".sopsFile is not set, and neither is sops.defaultSopsFile.";
    }) cfg.secrets;
    sops.placeholder = lib.mapAttrs
      (name: _: lib.mkDefault "<SOPS:${builtins.hashString "sha256" name}:PLACEHOLDER>")
      cfg.secrets;
    system.build.oxSecrets =
      map secretEntry (lib.attrValues cfg.secrets)
      ++ map templateEntry (lib.attrValues cfg.templates);
  };
}
