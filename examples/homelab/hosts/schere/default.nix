# Primary authoritative DNS.
{ ... }:
{
  imports = [ ./disko.nix ];

  ox = {
    hostName = "schere";
    roles = [ "server" ];
    boot.type = "grub";
    networking.enable = true;
    powerdns.enable = true;
  };
}
