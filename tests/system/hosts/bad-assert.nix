{
  networking.hostName = "bad-assert";
  users.users.nogroup = { isSystemUser = true; };
}
