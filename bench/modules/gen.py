#!/usr/bin/env python3
"""Generate the synthetic fleet for bench/modules/run.sh:
   gen.py DIR HOSTS
DIR/base.nix (roles with derived read-only options; attrsOf-submodule
options like systemd.services, environment.etc, fileSystems, users.users;
lines options), DIR/modules/mNN.nix (30 feature modules with role-driven
mkDefaults), DIR/hosts/hNNNN/default.nix and DIR/fleet.nix, which
evaluates every host found with builtins.readDir."""
import os, sys

out, hosts = sys.argv[1], int(sys.argv[2])
ROLES = ["server", "desktop", "laptop", "router", "gaming"]
os.makedirs(f"{out}/modules", exist_ok=True)
os.makedirs(f"{out}/hosts", exist_ok=True)

base = r'''{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  roles = [ %s ];
in {
  options.ox.roles = mkOption { type = types.listOf (types.enum roles); default = [ ]; };
  options.ox.role = lib.genAttrs roles (name: mkOption {
    type = types.bool; readOnly = true; default = lib.elem name config.ox.roles;
  }) // {
    enduser = mkOption { type = types.bool; readOnly = true; default = config.ox.role.desktop || config.ox.role.laptop; };
  };
  options.networking.hostName = mkOption { type = types.str; };
  options.networking.firewall.allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
  options.systemd.services = mkOption {
    default = { };
    type = types.attrsOf (types.submodule ({ name, config, ... }: {
      options = {
        enable = mkOption { type = types.bool; default = true; };
        description = mkOption { type = types.str; default = name; };
        wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
        after = mkOption { type = types.listOf types.str; default = [ ]; };
        script = mkOption { type = types.lines; default = ""; };
        environment = mkOption { type = types.attrsOf types.str; default = { }; };
        serviceConfig = mkOption { type = types.attrsOf (types.either types.str types.int); default = { }; };
      };
    }));
  };
  options.environment.etc = mkOption {
    default = { };
    type = types.attrsOf (types.submodule ({ name, ... }: {
      options = {
        text = mkOption { type = types.lines; default = ""; };
        target = mkOption { type = types.str; default = name; };
        mode = mkOption { type = types.str; default = "symlink"; };
      };
    }));
  };
  options.fileSystems = mkOption {
    default = { };
    type = types.attrsOf (types.submodule ({ name, ... }: {
      options = {
        mountPoint = mkOption { type = types.str; default = name; };
        device = mkOption { type = types.str; };
        fsType = mkOption { type = types.str; default = "ext4"; };
        options = mkOption { type = types.listOf types.str; default = [ "defaults" ]; };
      };
    }));
  };
  options.users.users = mkOption {
    default = { };
    type = types.attrsOf (types.submodule ({ name, ... }: {
      options = {
        name = mkOption { type = types.str; default = name; };
        uid = mkOption { type = types.nullOr types.int; default = null; };
        isNormalUser = mkOption { type = types.bool; default = false; };
        extraGroups = mkOption { type = types.listOf types.str; default = [ ]; };
      };
    }));
  };
  config.fileSystems."/boot" = { device = "/dev/disk/by-label/boot"; fsType = "vfat"; };
}
''' % " ".join(f'"{r}"' for r in ROLES)
open(f"{out}/base.nix", "w").write(base)

for i in range(30):
    role = ROLES[i % len(ROLES)]
    m = r'''{ config, lib, ... }:
let cfg = config.bench.m%(i)02d; in {
  options.bench.m%(i)02d = {
    enable = lib.mkEnableOption "feature %(i)d";
    port = lib.mkOption { type = lib.types.port; default = %(port)d; };
    extraConfig = lib.mkOption { type = lib.types.lines; default = ""; };
  };
  config = lib.mkMerge [
    { bench.m%(i)02d.enable = lib.mkDefault config.ox.role.%(role)s; }
    (lib.mkIf cfg.enable {
      systemd.services."svc-%(i)02d" = {
        description = "feature %(i)d";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        script = ''
          exec /usr/bin/feature-%(i)d --port ${toString cfg.port}
        '';
        environment = { PORT = toString cfg.port; HOST = config.networking.hostName; };
        serviceConfig = { Restart = "always"; RestartSec = 5; };
      };
      environment.etc."feature-%(i)02d.conf".text = ''
        port=${toString cfg.port}
        ${cfg.extraConfig}
      '';
      networking.firewall.allowedTCPPorts = [ cfg.port ];
    })
  ];
}
''' % {"i": i, "port": 2000 + i, "role": role}
    open(f"{out}/modules/m{i:02d}.nix", "w").write(m)

for h in range(hosts):
    roles = [ROLES[h % len(ROLES)]] + ([ROLES[(h // 5) % len(ROLES)]] if h % 3 == 0 else [])
    roles = sorted(set(roles))
    d = f"{out}/hosts/h{h:04d}"
    os.makedirs(d, exist_ok=True)
    host = r'''{ lib, ... }: {
  networking.hostName = "h%(h)04d";
  ox.roles = [ %(roles)s ];
  fileSystems."/" = { device = "/dev/disk/by-label/root-%(h)d"; };
  users.users.admin = { uid = 1000; isNormalUser = true; extraGroups = [ "wheel" ]; };
  bench.m%(m)02d.extraConfig = "host=%(h)d";
  bench.m%(m2)02d.enable = lib.mkForce true;
  systemd.services.backup = { script = "backup %(h)d"; wantedBy = [ "timers.target" ]; };
}
''' % {"h": h, "roles": " ".join(f'"{r}"' for r in roles), "m": h % 30, "m2": (h * 7) % 30}
    open(f"{d}/default.nix", "w").write(host)

fleet = r'''let
  lib = import <ox/lib>;
  modules = [ ./base.nix ] ++ map (n: ./modules + "/${n}") (builtins.attrNames (builtins.readDir ./modules));
  hosts = builtins.attrNames (lib.filterAttrs (_: t: t == "directory") (builtins.readDir ./hosts));
in lib.genAttrs hosts (h: (lib.evalModules { modules = modules ++ [ (./hosts + "/${h}") ]; }).config)
'''
open(f"{out}/fleet.nix", "w").write(fleet)
