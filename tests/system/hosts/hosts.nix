# Hosts for crates/ox/tests/hosts.rs: NixOS-style modules, evaluated
# with ox's modules (`<ox/modules/eval-host.nix>`).
let
  host = modules: specialArgs: import <ox/modules/eval-host.nix> { inherit modules specialArgs; };
in
{
  srv = host [ ./srv.nix ] { motd = "v1"; };
  srv2 = host [ ./srv.nix ] { motd = "v2"; };
  desk = host [ ./desk.nix ] { };
  svc = host [ ./svc.nix ] { };
  bad-assert = host [ ./bad-assert.nix ] { };
  bad-type = host [ ./bad-type.nix ] { };
  bad-option = host [ ./bad-option.nix ] { };
  bad-conflict = host [ ./bad-conflict.nix ] { };
  # a module instead of an evaluated host
  bad-shape = ./srv.nix;
}
