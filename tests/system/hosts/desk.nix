# A desktop with home-manager, in the seed's `gconfig = config` style.
{ config, lib, pkgs, ... }:
{
  options.ox.role.enduser = lib.mkOption { type = lib.types.bool; default = true; };
  config = {
    networking.hostName = "desk";
    # an overlay re-pins a package for every module that reads pkgs.htop
    nixpkgs.overlays = [ (final: prev: { htop = prev.htop // { debianVersion = "3.2.2-2+local1"; }; }) ];
    environment.systemPackages = [ pkgs.htop (pkgs.writeShellScriptBin "hello-ox" "echo hello from ox") ];
    users.users.manu = { isNormalUser = true; extraGroups = [ "audio" ]; };
    environment.etc.crypttab.text = ''
      games /dev/disk/by-uuid/0292b609 /etc/luks-keys/games.key luks
    '';
    fileSystems."/games" = { device = "/dev/mapper/games"; fsType = "ext4"; };
    home-manager.useGlobalPkgs = true;
    home-manager.extraSpecialArgs.gconfig = config;
    home-manager.users.manu = { gconfig, lib, pkgs, ... }: {
      home.stateVersion = "25.11";
      home.packages = [ pkgs.emacs (pkgs.writeShellScriptBin "emacsedit" ''exec emacsclient -c -a "" "$@"'') ];
      home.file.".emacs".text = ''(load "~/git/emacs-config/init.el")'';
      home.sessionVariables.EDITOR = "emacsclient";
      home.activation.emacs-config = lib.hm.dag.entryAfter [ "writeBoundary" ] ''
        [ -d "$HOME/git" ] || run mkdir -p "$HOME/git"
      '';
      xdg.configFile."git/config".text = "[user]\n  name = Manu\n";
      systemd.user.services.emacs-daemon = lib.mkIf gconfig.ox.role.enduser {
        Unit = { Description = "Emacs Daemon"; After = [ "graphical-session.target" ]; };
        Service = { Type = "notify"; ExecStart = "${pkgs.emacs}/bin/emacs --fg-daemon"; Restart = "on-failure"; };
        Install.WantedBy = [ "graphical-session.target" ];
      };
    };
  };
}
