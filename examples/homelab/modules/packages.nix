# Packages every machine gets, and the development set for endusers.
{ config, lib, pkgs, ... }:
{
  options.ox.packages.nixEnable = lib.mkEnableOption "the Nix development tools";

  config = {
    environment.systemPackages =
      [ pkgs.git pkgs.htop pkgs.curl ]
      ++ lib.optionals config.ox.packages.nixEnable [ pkgs.nix-bin ];
    environment.shellAliases = {
      ll = "ls -l";
      oxs = "ox switch --flake ~/git/fleet";
    };
  };
}
