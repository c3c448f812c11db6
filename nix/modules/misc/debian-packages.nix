# The fallback package set: any attribute is the Debian package of that
# name (a pseudo-derivation whose outPath is /usr), with the overlays
# applied on top. Replaced by nix/pkgs (ox's pinned package set) when
# that exists.
{ lib, overlays ? [ ], system ? "x86_64-linux" }:
let
  mkDebian = name: {
    type = "derivation";
    inherit name system;
    pname = name;
    version = null;
    debianPackage = name;
    outPath = "/usr";
    outputs = [ "out" ];
    meta = { };
  };
  # the packages the NixOS-style modules and the example fleet name
  names = [
    "bash" "bashInteractive" "coreutils" "curl" "git" "htop" "vim" "nano" "less"
    "openssh" "openssh-server" "sudo" "systemd" "util-linux" "iproute2" "rsync"
    "emacs" "emacs-pgtk" "firefox-esr" "foot" "ffmpeg" "cups" "cifs-utils"
    "bluez" "lutris" "mangohud" "nix-bin" "pdns-server" "pdns-backend-sqlite3"
    "hyprland" "zsh" "fish" "tmux" "jq" "ripgrep" "restic" "nginx"
  ];
  base = self: lib.genAttrs names mkDebian // {
    inherit lib system;
    mkDebianPackage = mkDebian;
    openssh = mkDebian "openssh-server";
    bashInteractive = mkDebian "bash";
  };
in
lib.fix (lib.foldl' (f: o: lib.extends o f) base overlays)
