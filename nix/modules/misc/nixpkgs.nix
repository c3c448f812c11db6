# `nixpkgs.overlays`, `nixpkgs.system` and the `pkgs` module argument:
# ox's package set (nix/pkgs: builders, formats, callPackage) over the
# pinned Debian packages of ./debian-packages.nix, with the host's
# overlays applied last.
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
  debianOverlay = final: prev: debian // prev;
  base = import ../../pkgs {
    inherit (cfg) system;
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
