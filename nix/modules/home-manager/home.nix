# The home-manager options ox supports for one user (home-manager's
# names): home.file, xdg.configFile, home.packages, home.sessionVariables,
# home.activation, systemd.user.<kind>.<name> with Unit/Service/Install.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;

  fileOpts = basePath: { name, config, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether this file should be generated."; };
      target = mkOption {
        type = types.str;
        default = name;
        description = "Path to target file relative to ${basePath}.";
      };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "Text of the file."; };
      source = mkOption {
        type = types.nullOr (types.either types.path types.str);
        default = null;
        description = "Path of the source file or directory.";
      };
      executable = mkOption { type = types.nullOr types.bool; default = null; description = "Set the execute bit; null keeps the source's."; };
      recursive = mkOption { type = types.bool; default = false; description = "Link the files of a directory source one by one, leaving the directory itself to the user."; };
      onChange = mkOption { type = types.lines; default = ""; description = "Shell commands run (after the files are linked) when the file's content differs from the last activation."; };
      force = mkOption { type = types.bool; default = false; description = "Overwrite an unmanaged file at the target."; };
    };
  };

  primitive = types.oneOf [ types.bool types.int types.str types.path types.package ];
  unitType = types.attrsOf (types.attrsOf (types.attrsOf (types.nullOr (types.either primitive (types.listOf primitive)))));
  unitOpt = kind: mkOption {
    type = unitType;
    default = { };
    description = "Definition of systemd per-user ${kind} units (sections Unit/${kind}/Install as attribute sets).";
  };
  envValue = types.oneOf [ types.str types.int types.path types.package ];
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; internal = true; description = "Assertions of this home."; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; internal = true; description = "Warnings of this home."; };

    home = {
      username = mkOption { type = types.str; description = "The user's username."; };
      homeDirectory = mkOption { type = types.path; apply = toString; description = "The user's home directory."; };
      stateVersion = mkOption { type = types.str; default = "25.11"; description = "The home-manager release the home was created with."; };
      enableNixpkgsReleaseCheck = mkOption { type = types.bool; default = true; description = "Accepted for home-manager compatibility."; };
      packages = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = [ ];
        description = "The set of packages to appear in the user environment (installed system-wide on Debian).";
      };
      file = mkOption {
        type = types.attrsOf (types.submodule (fileOpts "HOME"));
        default = { };
        description = "Attribute set of files to link into the user home.";
      };
      sessionVariables = mkOption {
        type = types.lazyAttrsOf envValue;
        default = { };
        example = { EDITOR = "emacs"; GS_OPTIONS = "-sPAPERSIZE=a4"; };
        description = "Environment variables to always set at login.";
      };
      sessionPath = mkOption { type = types.listOf types.str; default = [ ]; description = "Extra directories to add to PATH."; };
      shellAliases = mkOption { type = types.attrsOf types.str; default = { }; description = "Shell aliases for all shells."; };
      activation = mkOption {
        type = lib.hm.types.dagOf types.str;
        default = { };
        description = ''
          The activation scripts of the home, a DAG: use
          `lib.hm.dag.entryAfter [ "writeBoundary" ] "…"` for scripts that
          change the home directory.
        '';
      };
    };

    xdg = {
      enable = mkOption { type = types.bool; default = false; description = "Whether to manage XDG base directories."; };
      configHome = mkOption {
        type = types.str;
        default = "${config.home.homeDirectory}/.config";
        description = "Absolute path to the XDG configuration directory.";
      };
      configFile = mkOption {
        type = types.attrsOf (types.submodule (fileOpts "xdg.configHome"));
        default = { };
        description = "Attribute set of files to link into the user's XDG configuration home.";
      };
    };

    systemd.user = {
      services = unitOpt "Service";
      timers = unitOpt "Timer";
      sockets = unitOpt "Socket";
      paths = unitOpt "Path";
      targets = unitOpt "Target";
      slices = unitOpt "Slice";
      startServices = mkOption { type = types.either types.bool (types.enum [ "suggest" "sd-switch" ]); default = true; description = "Whether changed user services are restarted on activation."; };
    };

    programs.home-manager.enable = lib.mkEnableOption "home-manager (accepted; ox is the home manager)";

    nixpkgs = {
      overlays = mkOption { type = types.listOf types.unspecified; default = [ ]; description = "Accepted for home-manager compatibility (useGlobalPkgs is implied)."; };
      config = mkOption { type = types.attrs; default = { }; description = "Accepted for home-manager compatibility."; };
    };
  };
}
