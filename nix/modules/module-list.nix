# Every module ox evaluates a host with (the NixOS option tree ox
# supports; see docs/system.md).
[
  ./misc/assertions.nix
  ./misc/version.nix
  ./misc/nixpkgs.nix
  ./misc/deployment.nix
  ./config/networking.nix
  ./config/locale.nix
  ./config/environment.nix
  ./config/users.nix
  ./system/etc.nix
  ./system/systemd.nix
  ./tasks/filesystems.nix
  ./tasks/disko.nix
  ./services/openssh.nix
  ./security/sudo.nix
  ./security/sops.nix
  ./home-manager/nixos.nix
  ./system/build.nix
]
