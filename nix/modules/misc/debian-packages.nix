# The FALLBACK for Debian names not in the host's lock (ox.lock, written
# by `ox pkgs add NAME`, read through nixpkgs.debianLock; locked packages
# are real store paths and win over these).
#
# Debian packages as package-set attributes: each is a pseudo-derivation
# named after the Debian package, pinned to the Debian 12 (bookworm)
# version below, with `outPath = "/usr"` so "${pkgs.git}/bin/git" is
# /usr/bin/git and `path = [ pkgs.git ]` puts /usr/bin on PATH.
# ox's package set (nix/pkgs) is layered on top: its attributes win.
#
# The pins are the bookworm (+ security/updates) candidates of
# 2026-11-26. `null`: not in bookworm — such a package cannot be
# installed, and `ox build` says so.
{ system ? "x86_64-linux" }:
let
  pins = {
    bash = "5.2.15-2+b13";
    coreutils = "9.1-1";
    curl = "7.88.1-10+deb12u15";
    git = "1:2.39.5-0+deb12u3";
    htop = "3.2.2-2";
    vim = "2:9.0.1378-2+deb12u2";
    nano = "7.2-1+deb12u1";
    less = "590-2.1~deb12u2";
    openssh-server = "1:9.2p1-2+deb12u10";
    sudo = "1.9.13p3-1+deb12u4";
    systemd = "252.39-1~deb12u2";
    util-linux = "2.38.1-5+deb12u3";
    iproute2 = "6.1.0-3";
    rsync = "3.5.0+ds1-0+deb12u1";
    emacs = "1:28.2+1-15+deb12u4";
    emacs-pgtk = null;
    firefox-esr = "153.7.0esr-1~deb12u1";
    foot = "1.13.1-2+deb12u1";
    ffmpeg = "7:5.1.9-0+deb12u1";
    cups = "2.4.2-3+deb12u9";
    cifs-utils = "2:7.0-2";
    bluez = "5.66-1+deb12u2";
    lutris = null;
    mangohud = "0.6.8-2";
    nix-bin = "2.8.0-1.1+b1";
    pdns-server = "4.7.3-2";
    pdns-backend-sqlite3 = "4.7.3-2";
    zsh = "5.9-4+b15";
    fish = "3.6.0-3.1+deb12u1";
    tmux = "3.3a-3";
    jq = "1.6-2.1+deb12u3";
    ripgrep = "13.0.0-4+b2";
    restic = "0.14.0-1+b5";
    nginx = "1.22.1-9+deb12u11";
  };
  mkDebian = name: version: {
    type = "derivation";
    inherit name system version;
    pname = name;
    debianPackage = name;
    debianVersion = version;
    outPath = "/usr";
    outputs = [ "out" ];
    meta = { };
  };
  pkgs = builtins.mapAttrs mkDebian pins;
in
pkgs // {
  # nixpkgs names for the same Debian packages
  openssh = pkgs.openssh-server;
  bashInteractive = pkgs.bash;
  mkDebianPackage = mkDebian;
  debianPins = pins;
}
