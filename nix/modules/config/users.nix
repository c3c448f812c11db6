# users.users, users.groups, users.mutableUsers with NixOS's option names
# and assertions; activation creates and updates them.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.users;
  # a value that may appear in /etc/passwd or /etc/group (no `:` or newline)
  passwdEntry = t: types.addCheck t (s: !(lib.hasInfix ":" s || lib.hasInfix "\n" s)) // {
    description = "${t.description}, not containing newlines or colons";
  };

  userOpts = { name, config, ... }: {
    options = {
      name = mkOption {
        type = passwdEntry types.str;
        default = name;
        description = "The name of the user account (defaults to the attribute name).";
      };
      description = mkOption {
        type = passwdEntry types.str;
        default = "";
        example = "Alice Q. User";
        description = "A short description of the user account (GECOS field).";
      };
      uid = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "The account UID; null lets activation allocate one (stable across generations).";
      };
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
        description = "Whether this is a system user (UID below 1000, no login shell by default).";
      };
      isNormalUser = mkOption {
        type = types.bool;
        default = false;
        description = "Whether this is a normal user: group `users`, home /home/<name>, created, a login shell.";
      };
      group = mkOption {
        type = types.str;
        apply = x: assert (lib.stringLength x < 32 || abort "Group name '${x}' is longer than 31 characters which is not allowed!"); x;
        default = "";
        description = "The user's primary group.";
      };
      extraGroups = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "The user's auxiliary groups.";
      };
      home = mkOption {
        type = passwdEntry types.path;
        default = "/var/empty";
        description = "The user's home directory.";
      };
      homeMode = mkOption {
        type = types.strMatching "[0-7]{1,5}";
        default = "700";
        description = "The mode of a created home directory.";
      };
      createHome = mkOption {
        type = types.bool;
        default = false;
        description = "Whether to create the home directory.";
      };
      useDefaultShell = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the user gets users.defaultUserShell.";
      };
      shell = mkOption {
        type = types.nullOr (types.either types.shellPackage (passwdEntry types.path));
        default = null;
        example = lib.literalExpression "pkgs.bashInteractive";
        description = "The user's login shell (a package: its /bin/<name>).";
      };
      hashedPassword = mkOption {
        type = types.nullOr (passwdEntry types.str);
        default = null;
        description = "The hashed password (mkpasswd).";
      };
      hashedPasswordFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "A file on the host holding the hashed password.";
      };
      password = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Not supported by ox (a clear-text password would land in the store); use hashedPassword.";
      };
      initialPassword = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Not supported by ox; use hashedPassword.";
      };
      openssh.authorizedKeys = {
        keys = mkOption {
          type = types.listOf types.singleLineStr;
          default = [ ];
          description = "Public keys allowed to log in as this user (~/.ssh/authorized_keys).";
        };
        keyFiles = mkOption {
          type = types.listOf types.path;
          default = [ ];
          description = "Files whose public keys are added to keys.";
        };
      };
      packages = mkOption {
        type = types.listOf types.package;
        default = [ ];
        description = "Packages for this user (installed system-wide on Debian).";
      };
    };
    config = lib.mkMerge [
      (lib.mkIf config.isNormalUser {
        group = lib.mkDefault "users";
        createHome = lib.mkDefault true;
        home = lib.mkDefault "/home/${config.name}";
        homeMode = lib.mkDefault "700";
        useDefaultShell = lib.mkDefault true;
      })
    ];
  };

  groupOpts = { name, ... }: {
    options = {
      name = mkOption {
        type = passwdEntry types.str;
        default = name;
        description = "The name of the group (defaults to the attribute name).";
      };
      gid = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "The group GID; null lets activation allocate one.";
      };
      members = mkOption {
        type = types.listOf (passwdEntry types.str);
        default = [ ];
        description = "The user names of the group members, added to /etc/group.";
      };
    };
  };
in
{
  options.users = {
    users = mkOption {
      default = { };
      type = types.attrsOf (types.submodule userOpts);
      description = "Additional user accounts to be created automatically by the system.";
    };
    groups = mkOption {
      default = { };
      type = types.attrsOf (types.submodule groupOpts);
      description = "Additional groups to be created automatically by the system.";
    };
    mutableUsers = mkOption {
      type = types.bool;
      default = true;
      description = ''
        If false, the contents of the user and group files are replaced
        on activation; if true, accounts may also be changed with
        useradd/passwd and ox only adds and updates its own.
      '';
    };
    defaultUserShell = mkOption {
      type = types.either types.shellPackage types.path;
      default = "/bin/bash";
      description = "The shell of users with useDefaultShell (normal users).";
    };
  };

  config.assertions = lib.flatten (lib.mapAttrsToList (name: user: [
    {
      assertion =
        let isEffectivelySystemUser = user.isSystemUser || (user.uid != null && user.uid < 1000);
        in isEffectivelySystemUser != user.isNormalUser;
      message = "Exactly one of users.users.${name}.isSystemUser and users.users.${name}.isNormalUser must be set.";
    }
    {
      assertion = user.group != "";
      message = ''
        users.users.${name}.group is unset. This used to default to
        nogroup, but this is unsafe. For example you can create a group
        for this user with:
        users.users.${name}.group = "${name}";
        users.groups.${name} = {};
      '';
    }
    {
      assertion = user.password == null && user.initialPassword == null;
      message = "users.users.${name}: clear-text passwords are not supported by ox (they would be in the store); set hashedPassword or hashedPasswordFile.";
    }
  ]) cfg.users);
}
