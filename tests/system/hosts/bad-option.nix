{
  networking.hostName = "bad-option";
  services.opensshd.enable = true;
}
