# A second cluster server.
{ ... }:
{
  ox = {
    hostName = "wolke";
    roles = [ "server" ];
    networking.enable = true;
  };
}
