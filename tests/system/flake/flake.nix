# A two-host flake for crates/ox/tests/hosts.rs (`ox build --flake`).
{
  description = "ox system test flake";
  inputs.ox.url = "ox";
  outputs = { self, ox, ... }: {
    oxConfigurations = ox.lib.genAttrs [ "alpha" "beta" ] (name:
      ox.lib.oxSystem {
        system = "x86_64-linux";
        specialArgs = { role = if name == "alpha" then "web" else "db"; };
        modules = [ ./host.nix { networking.hostName = name; } ];
      });
  };
}
