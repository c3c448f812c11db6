# A small monitoring server with a user-facing dashboard account.
{ ... }:
{
  ox = {
    hostName = "funke";
    roles = [ "server" ];
    networking.enable = true;
  };
  users.users.grafana = {
    isSystemUser = true;
    group = "grafana";
  };
  users.groups.grafana = { };
}
