# Units run by a real systemd in crates/ox/tests/units_systemd.rs.
{ pkgs, ... }:
{
  networking.hostName = "svc";
  systemd.services.hello = {
    description = "Hello from ox";
    wantedBy = [ "multi-user.target" ];
    environment.GREETING = "hi \"there\"";
    path = [ pkgs.coreutils ];
    preStart = "mkdir -p /run/hello";
    script = ''
      echo "$GREETING from $(basename "$0")" > /run/hello/out
      echo "$PATH" > /run/hello/path
    '';
    postStart = "touch /run/hello/post";
    serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
  };
  systemd.services.tick = {
    script = "echo tick > /run/tick";
    startAt = "hourly";
    serviceConfig.Type = "oneshot";
  };
  systemd.targets.fleet = { description = "Fleet"; wants = [ "hello.service" ]; };
  systemd.sockets.echo = {
    listenStreams = [ "127.0.0.1:7777" ];
    socketConfig.Accept = true;
    wantedBy = [ "sockets.target" ];
  };
  systemd.services."echo@" = {
    description = "Echo";
    serviceConfig = { ExecStart = "/bin/cat"; StandardInput = "socket"; };
  };
  systemd.services.masked.enable = false;

  # store paths built from the config: a script and an /etc file
  systemd.services.greet = {
    serviceConfig.Type = "oneshot";
    serviceConfig.ExecStart = "${pkgs.writeShellScript "greet" "cat /etc/greeting > /run/greet"}";
  };
  environment.etc.greeting.source = pkgs.writeText "greeting" "built by ox\n";
}
