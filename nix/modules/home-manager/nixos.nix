# The NixOS side of home-manager: `home-manager.users.<name>` evaluated
# with home-manager's option names (./home.nix), `extraSpecialArgs`
# (the `gconfig = config` pattern), `sharedModules`, `useGlobalPkgs`.
# Their assertions and warnings become the host's.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.home-manager;
  # lib with `lib.hm` (home-manager extends lib the same way)
  hmLib = lib // { hm = import ./lib.nix { lib = hmLib; }; };

  userModule = types.submoduleWith {
    description = "home-manager module";
    class = "homeManager";
    specialArgs = {
      lib = hmLib;
      osConfig = config;
      modulesPath = toString ./.;
    } // cfg.extraSpecialArgs;
    modules = [
      ./home.nix
      ({ name, ... }: {
        config = {
          _module.args.pkgs = lib.mkDefault pkgs;
          home.username = lib.mkDefault name;
          home.homeDirectory = lib.mkDefault (config.users.users.${name}.home or "/home/${name}");
        };
      })
    ] ++ cfg.sharedModules;
  };
in
{
  options.home-manager = {
    users = mkOption {
      type = types.attrsOf userModule;
      default = { };
      description = "Per-user home-manager configuration.";
    };
    extraSpecialArgs = mkOption {
      type = types.attrs;
      default = { };
      example = lib.literalExpression "{ gconfig = config; }";
      description = "Extra `specialArgs` passed to home-manager modules.";
    };
    sharedModules = mkOption {
      type = types.listOf types.raw;
      default = [ ];
      description = "Extra modules added to every user's home-manager configuration.";
    };
    useGlobalPkgs = mkOption {
      type = types.bool;
      default = false;
      description = "Use the system's pkgs (ox always does; accepted for compatibility).";
    };
    useUserPackages = mkOption {
      type = types.bool;
      default = false;
      description = "Install user packages through users.users.<name>.packages (system-wide on Debian either way).";
    };
    backupFileExtension = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Accepted for compatibility; use home.file.<name>.force.";
    };
    verbose = mkOption { type = types.bool; default = false; description = "Accepted for compatibility."; };
  };

  config = {
    assertions = lib.flatten (lib.mapAttrsToList (user: hm:
      map (a: a // { message = "${user} profile: ${a.message}"; }) hm.assertions) cfg.users);
    warnings = lib.flatten (lib.mapAttrsToList (user: hm:
      map (w: "${user} profile: ${w}") hm.warnings) cfg.users);
  };
}
