# `nixpkgs.overlays`, `nixpkgs.system`, `nixpkgs.debianLock` and the
# `pkgs` module argument: ox's package set (nix/pkgs: builders, formats,
# callPackage, and every package of the Debian lock as a real store
# path), then the pin table of ./debian-packages.nix as a fallback for
# names the lock does not have, with the host's overlays applied last.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.nixpkgs;
  overlayType = types.mkOptionType {
    name = "nixpkgs-overlay";
    description = "nixpkgs overlay";
    check = lib.isFunction;
    merge = lib.mergeOneOption;
  };
  debian = import ./debian-packages.nix { inherit (cfg) system; };
  # The lock's packages (in `prev`) win over the pin table; the nixpkgs
  # aliases follow whichever `openssh-server`/`bash` that is.
  debianOverlay = final: prev: debian // {
    openssh = final.openssh-server;
    bashInteractive = final.bash;
  } // prev;
  base = import ../../pkgs {
    inherit (cfg) system debianLock;
    overlays = [ debianOverlay ] ++ cfg.overlays;
  };
in
{
  options.nixpkgs = {
    overlays = mkOption {
      type = types.listOf overlayType;
      default = [ ];
      description = "Overlays applied to the package set every module sees as `pkgs`.";
    };
    system = mkOption {
      type = types.str;
      default = "x86_64-linux";
      description = "The platform the host runs on.";
    };
    hostPlatform = mkOption {
      type = types.either types.str types.attrs;
      default = cfg.system;
      defaultText = lib.literalExpression "config.nixpkgs.system";
      description = "The platform the host runs on (NixOS's newer name).";
    };
    debianLock = mkOption {
      type = types.nullOr (types.either types.path types.attrs);
      default = null;
      example = lib.literalExpression "./ox.lock";
      description = ''
        The Debian package lock (`ox.lock`, written by `ox pkgs add NAME`),
        a path or its parsed contents. Every package in it is `pkgs.<name>`,
        a store path linking to that exact version's files, so
        `"''${pkgs.git}/bin/git"` is a store path and activation installs the
        locked version. `lib.oxSystem` sets it to the flake's `./ox.lock`
        when that file exists. Names not in the lock fall back to ox's
        built-in pin table (debian-packages.nix).
      '';
    };
    pkgs = mkOption {
      type = types.nullOr types.attrs;
      default = null;
      description = "A package set to use instead of the built-in one.";
    };
    config = mkOption {
      type = types.attrs;
      default = { };
      description = "Accepted for NixOS compatibility (allowUnfree, …); Debian decides.";
    };
  };

  config._module.args.pkgs = if cfg.pkgs != null then cfg.pkgs else base;
}
