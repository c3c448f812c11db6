# environment.systemPackages, variables, sessionVariables, shellAliases.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  envValue = types.either types.str (types.either types.path (types.listOf types.str));
  toStr = v: if lib.isList v then lib.concatStringsSep ":" (map toString v) else toString v;
in
{
  options.environment = {
    systemPackages = mkOption {
      type = types.listOf (types.either types.package types.str);
      default = [ ];
      example = lib.literalExpression "[ pkgs.firefox pkgs.thunderbird ]";
      description = ''
        The packages installed on the host: Debian packages, pinned to a
        version when the package set pins them.
      '';
    };
    variables = mkOption {
      type = types.attrsOf envValue;
      default = { };
      example = { EDITOR = "nvim"; VISUAL = "nvim"; };
      apply = lib.mapAttrs (_: toStr);
      description = "Environment variables set by login shells (/etc/profile.d/ox.sh). Lists are joined with `:`.";
    };
    sessionVariables = mkOption {
      type = types.attrsOf envValue;
      default = { };
      apply = lib.mapAttrs (_: toStr);
      description = "Session environment variables (also in /etc/profile.d/ox.sh on Debian).";
    };
    shellAliases = mkOption {
      type = types.attrsOf (types.nullOr (types.either types.str types.path));
      default = { };
      example = { l = null; ll = "ls -l"; };
      description = "Shell aliases for all users' shells; null removes one.";
    };
    shells = mkOption {
      type = types.listOf (types.either types.shellPackage types.path);
      default = [ ];
      description = "Accepted for NixOS compatibility (Debian keeps /etc/shells).";
    };
  };
}
