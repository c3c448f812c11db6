{ gconfig, lib, ... }:
{
  home.sessionVariables = {
    EDITOR = "emacsedit";
  } // lib.optionalAttrs gconfig.ox.wayland.enable {
    MOZ_ENABLE_WAYLAND = "1";
  };
  xdg.configFile."git/config".text = ''
    [user]
      name = Manu
      email = manu@home.arpa
    [init]
      defaultBranch = main
  '';
}
