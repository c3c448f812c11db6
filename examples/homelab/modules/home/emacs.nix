# The editor (Debian 12 ships emacs, not the pgtk build the NixOS original
# uses): installed, bootstrapped on first activation, run as a user
# daemon once the graphical session is up.
{ gconfig, lib, pkgs, ... }:
let
  emacsedit = pkgs.writeShellScriptBin "emacsedit" ''
    exec emacsclient -c -a "" "$@"
  '';
in
{
  home = {
    packages = [ pkgs.emacs emacsedit ];
    file.".emacs".source = ./dot_emacs;
    activation.emacs-config = lib.hm.dag.entryAfter [ "writeBoundary" ] ''
      [ -d "$HOME/git" ] || run mkdir -p "$HOME/git"
      [ -d "$HOME/git/emacs-config" ] || run mkdir -p "$HOME/git/emacs-config"
      [ -f "$HOME/git/emacs-config/custom.el" ] || run touch \
        "$HOME/git/emacs-config/custom.el"
    '';
  };

  systemd.user.services.emacs-daemon = lib.mkIf gconfig.ox.role.enduser {
    Unit = {
      Description = "Emacs Daemon";
      After = [ "graphical-session.target" ];
    };
    Service = {
      Type = "notify";
      ExecStart = "${pkgs.emacs}/bin/emacs --fg-daemon";
      ExecStop = "${pkgs.emacs}/bin/emacsclient --eval '(kill-emacs)'";
      Restart = "on-failure";
      RestartSec = "2s";
    };
    Install = {
      WantedBy = [ "graphical-session.target" ];
    };
  };
}
