# Evaluates one host: ox's NixOS-style modules plus the host's own.
#
#   import <ox/modules/eval-host.nix> {
#     modules = [ ./hosts/foo ];
#     specialArgs = { inherit inputs; };
#   }
#
# returns what `lib.evalModules` returns (`config`, `options`, …);
# `config.system.build.oxPlan` is what `ox build` renders into the
# toplevel, `config.system.build.oxChecks` the failed assertions and
# warnings it reports first. The flake form `ox.lib.oxSystem` wraps this.
{ modules
, specialArgs ? { }
, system ? "x86_64-linux"
, lib ? import ../lib
, prefix ? [ ]
}:
lib.evalModules {
  inherit prefix;
  class = "nixos";
  specialArgs = { modulesPath = toString ./.; } // specialArgs;
  modules = import ./module-list.nix ++ [
    { nixpkgs.system = lib.mkDefault system; }
  ] ++ modules;
}
