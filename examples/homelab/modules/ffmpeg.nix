{ config, lib, pkgs, ... }:
{
  options.ox.ffmpeg.enable = lib.mkEnableOption "media tools";
  config = lib.mkIf config.ox.ffmpeg.enable {
    environment.systemPackages = [ pkgs.ffmpeg ];
  };
}
