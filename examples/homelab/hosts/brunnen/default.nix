# A production server: eight meaningful lines, the roles do the rest.
{ ... }:
{
  ox = {
    hostName = "brunnen";
    boot = {
      type = "grub";
      efi.enable = false;
    };
    roles = [ "server" ];
    networking.enable = true;
  };
}
