# A second laptop, without Kubernetes.
{ lib, ... }:
{
  ox = {
    hostName = "moos";
    roles = [ "laptop" ];
    k8s.enable = lib.mkForce false;
  };
}
