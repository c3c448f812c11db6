{
  networking.hostName = "bad-type";
  systemd.services.web.wantedBy = "multi-user.target";
}
