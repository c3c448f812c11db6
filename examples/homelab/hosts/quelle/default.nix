# The living-room gaming desktop.
{ ... }:
{
  ox = {
    hostName = "quelle";
    roles = [ "desktop" "games" ];
    video = "amd";
  };
}
