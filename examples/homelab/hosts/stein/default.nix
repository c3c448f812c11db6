# Secondary authoritative DNS: same module, no API key.
{ ... }:
{
  ox = {
    hostName = "stein";
    roles = [ "server" ];
    boot.type = "grub";
    networking.enable = true;
    powerdns = {
      enable = true;
      secondary = true;
    };
  };
}
