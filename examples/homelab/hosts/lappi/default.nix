# A laptop: Bluetooth comes on by role.
{ ... }:
{
  ox = {
    hostName = "lappi";
    roles = [ "laptop" ];
    boot.cryptPart = "crypt";
    wayland.enable = true;
  };
}
