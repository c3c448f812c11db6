# Bridges the system config and home-manager: home modules see the host's
# config as `gconfig`, so they can ask role questions.
{ config, lib, ... }:
let cfg = config.ox.home; in
{
  options.ox.home = {
    enable = lib.mkEnableOption "the personal home-manager setup";
    user = lib.mkOption {
      type = lib.types.str;
      default = "manu";
      description = "The person who sits in front of this machine.";
    };
  };

  config = lib.mkMerge [
    { ox.home.enable = lib.mkDefault config.ox.role.enduser; }
    (lib.mkIf cfg.enable {
      users.users.${cfg.user} = {
        isNormalUser = true;
        description = "Desk user";
        extraGroups = [ "audio" "video" ];
        shell = "/bin/bash";
      };

      home-manager.useGlobalPkgs = true;
      home-manager.extraSpecialArgs = {
        gconfig = config;
      };
      home-manager.users.${cfg.user} = {
        imports = [ ./home/emacs.nix ./home/shell.nix ];
        home.stateVersion = "25.11";
      };
    })
  ];
}
