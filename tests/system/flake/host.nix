{ role, pkgs, ... }:
{
  environment.etc."ox/role".text = "${role}\n";
  environment.systemPackages = [ pkgs.curl ];
  systemd.services.${role} = {
    wantedBy = [ "multi-user.target" ];
    script = "echo ${role}";
  };
}
