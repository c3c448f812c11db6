{
  systemd.services.web.serviceConfig.User = "nobody";
}
