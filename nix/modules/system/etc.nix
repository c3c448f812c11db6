# environment.etc.<name>: files below /etc, with NixOS's options plus
# `onConflict` (what activation does with an unmanaged file already at
# the target on a Debian host).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  # /etc files a stock Debian host already has (backed up, not refused)
  debianShipped = import ../misc/debian-etc.nix;

  etcOpts = { name, config, ... }: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether this /etc file should be generated.";
      };
      target = mkOption {
        # below /etc: no `..` component
        type = types.addCheck types.str (t: !(builtins.elem ".." (lib.splitString "/" t))) // {
          description = "path below /etc (no `..`)";
        };
        default = name;
        description = "Name of the file, relative to /etc (defaults to the attribute name).";
      };
      text = mkOption {
        type = types.nullOr types.lines;
        default = null;
        description = "Text of the file.";
      };
      source = mkOption {
        type = types.nullOr (types.either types.path types.str);
        default = null;
        description = "Path of the source file or directory (copied into the generation).";
      };
      mode = mkOption {
        type = types.strMatching "symlink|direct-symlink|[0-7]{4}";
        default = "symlink";
        example = "0600";
        description = ''
          "symlink": /etc/<target> links into the generation; an octal
          mode: a copy with that mode, owned by user/group.
        '';
      };
      uid = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "UID of the copied file (when mode is not symlink).";
      };
      gid = mkOption {
        type = types.nullOr types.int;
        default = null;
        description = "GID of the copied file (when mode is not symlink).";
      };
      user = mkOption {
        type = types.str;
        default = "root";
        description = "Owner of the copied file (when mode is not symlink).";
      };
      group = mkOption {
        type = types.str;
        default = "root";
        description = "Group of the copied file (when mode is not symlink).";
      };
      onConflict = mkOption {
        type = types.enum [ "error" "backup" "replace" ];
        default =
          if builtins.elem (lib.removePrefix "/" config.target) debianShipped
          then "backup" else "error";
        defaultText = lib.literalExpression
          ''"backup" if Debian ships /etc/<target> (misc/debian-etc.nix), else "error"'';
        description = ''
          ox only: what activation does when an unmanaged file is already
          at the target: stop the switch ("error"), move it to
          <target>.ox-backup ("backup"), or overwrite it ("replace").
          Files a stock Debian system ships (/etc/motd, /etc/issue, …)
          default to "backup", so the first switch does not refuse.
        '';
      };
    };
  };
in
{
  options.environment.etc = mkOption {
    default = { };
    example = lib.literalExpression ''
      { example-configuration-file =
          { source = "/nix/store/.../etc/dir/file.conf.example";
            mode = "0440";
          };
        "default/useradd".text = "GROUP=100 ...";
      }
    '';
    type = types.attrsOf (types.submodule etcOpts);
    description = "Set of files that have to be linked in /etc.";
  };

  config.assertions = lib.mapAttrsToList (name: e: {
    assertion = !e.enable || e.text != null || e.source != null;
    message = "environment.etc.\"${name}\": set `text` or `source`.";
  }) config.environment.etc;
}
