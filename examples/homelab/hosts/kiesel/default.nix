# A work desktop without games.
{ ... }:
{
  ox = {
    hostName = "kiesel";
    roles = [ "desktop" ];
    video = "amd";
    wayland.enable = true;
  };
}
