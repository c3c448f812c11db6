{ config, lib, ... }:
{
  options.ox.vr.enable = lib.mkEnableOption "the VR runtime";
  config = lib.mkIf config.ox.vr.enable {
    systemd.user.services.vr-runtime = {
      description = "VR runtime";
      wantedBy = [ "graphical-session.target" ];
      serviceConfig.ExecStart = "/usr/bin/env true";
    };
  };
}
