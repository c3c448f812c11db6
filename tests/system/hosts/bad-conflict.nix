{
  imports = [ ./bad-conflict-other.nix ];
  networking.hostName = "bad-conflict";
  systemd.services.web.serviceConfig.User = "www";
}
