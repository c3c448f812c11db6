# The fleet's shared behaviour: the role system, and every feature module.
# Roles are a typed list per host; ox.role.<name> are read-only booleans
# derived from it, and they drive the defaults of every feature below.
{ config, lib, ... }:
let
  inherit (lib) mkOption mkDefault types;
  roles = [ "desktop" "laptop" "server" "games" "vr" "nas" ];
  role = config.ox.role;
in
{
  imports = [
    ./auth.nix
    ./boot.nix
    ./networking.nix
    ./ssh.nix
    ./samba.nix
    ./bluetooth.nix
    ./printing.nix
    ./gui.nix
    ./hyprland.nix
    ./k8s.nix
    ./ffmpeg.nix
    ./packages.nix
    ./games.nix
    ./vr.nix
    ./powerdns.nix
    ./home.nix
  ];

  options.ox = {
    hostName = mkOption {
      type = types.str;
      description = "The machine's host name.";
    };

    roles = mkOption {
      default = [ "desktop" ];
      type = with types; listOf (enum roles);
      description = ''
        The machine roles.
      '';
    };

    role =
      lib.genAttrs roles
        (name:
          mkOption {
            type = types.bool;
            readOnly = true;
            default = lib.elem name config.ox.roles;
            description = "Whether this machine has the ${name} role.";
          })
      // {
        enduser = mkOption {
          type = types.bool;
          readOnly = true;
          default = config.ox.role.desktop || config.ox.role.laptop;
          description = "Whether this machine has a desktop or laptop role.";
        };
      };

    video = mkOption {
      type = types.enum [ "intel" "amd" "nvidia" ];
      default = "intel";
      description = "The GPU vendor; nvidia injects its Wayland environment.";
    };

    monitor = {
      with4k = lib.mkEnableOption "a 4K main monitor";
      with4kFix = lib.mkEnableOption "the fractional-scaling fix for 4K";
    };

    wayland.enable = lib.mkEnableOption "Wayland session defaults";
  };

  config = {
    networking.hostName = config.ox.hostName;
    time.timeZone = mkDefault "Europe/Berlin";
    i18n.defaultLocale = mkDefault "en_US.UTF-8";
    system.stateVersion = "25.11";

    ox = {
      auth.enable = mkDefault true;
      boot.enable = mkDefault true;
      samba.enable = mkDefault role.enduser;
      bluetooth.enable = mkDefault role.laptop;
      printing.enable = mkDefault role.enduser;
      gui.enable = mkDefault role.enduser;
      k8s.enable = mkDefault (role.desktop || role.laptop || role.server);
      k8s.server.enable = mkDefault role.server;
      ffmpeg.enable = mkDefault role.enduser;
      hyprland.enable = mkDefault role.enduser;
      packages.nixEnable = mkDefault role.enduser;
      ssh.enable = mkDefault true;
      games.enable = mkDefault role.games;
      vr.enable = mkDefault role.vr;
    };
  };
}
