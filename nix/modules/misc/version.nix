{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.system = {
    stateVersion = mkOption {
      type = types.str;
      default = "25.11";
      description = ''
        The release with whose defaults stateful data on this host was
        created (kept for NixOS compatibility; ox's modules read it only
        to record it in the toplevel's manifest).
      '';
    };
    build = mkOption {
      type = types.lazyAttrsOf types.unspecified;
      default = { };
      internal = true;
      description = "Attribute set of things the host builds (`oxPlan`, …).";
    };
  };
}
