# Every machine joins the cluster as an agent; servers run the control plane.
{ config, lib, ... }:
let cfg = config.ox.k8s; in
{
  options.ox.k8s = {
    enable = lib.mkEnableOption "the k3s agent";
    server.enable = lib.mkEnableOption "the k3s control plane";
  };

  config = lib.mkIf cfg.enable {
    environment.etc."rancher/k3s/config.yaml".text = ''
      node-name: ${config.networking.hostName}
      ${if cfg.server.enable then "cluster-init: true" else "server: https://brunnen.home.arpa:6443"}
    '';
    systemd.services.k3s = {
      description = "Lightweight Kubernetes (${if cfg.server.enable then "server" else "agent"})";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      restartTriggers = [ config.environment.etc."rancher/k3s/config.yaml".text ];
      serviceConfig = {
        Type = "simple";
        ExecStart = "/usr/local/bin/k3s ${if cfg.server.enable then "server" else "agent"}";
        Restart = "always";
        RestartSec = "5s";
      };
      unitConfig.ConditionPathExists = "/usr/local/bin/k3s";
    };
  };
}
