{
  description = "A homelab fleet managed by ox: servers, desktops, a laptop and a gaming rig";

  inputs = {
    # The built-in ox input: its lib, its NixOS-style module library and its
    # package set, pinned to the running ox version in flake.lock.
    ox.url = "ox";

    # Local stand-ins for remote inputs. The compositor and its plugin must
    # match, so the plugin follows the compositor and both follow ox.
    hyprland = {
      url = "path:./vendor/hyprland";
      inputs.ox.follows = "ox";
    };
    hy3 = {
      url = "path:./vendor/hy3";
      inputs.hyprland.follows = "hyprland";
    };
  };

  outputs = { self, ox, hyprland, hy3, ... }@inputs:
    let
      lib = ox.lib;
      system = "x86_64-linux";

      # Replace the compositor set-wide: every module that reads
      # pkgs.hyprland sees the pinned build.
      hyprlandOverlay = final: prev:
        let
          hyprlandPkgs = hyprland.packages.${system};
          hy3Pkgs = hy3.packages.${system};
          hyprlandPkg = hyprlandPkgs.hyprland or hyprlandPkgs.default;
          hy3Pkg = hy3Pkgs.hy3 or hy3Pkgs.default;
        in
        {
          hyprland = hyprlandPkg;
          hyprlandPlugins = (prev.hyprlandPlugins or { }) // { hy3 = hy3Pkg; };
          hy3 = hy3Pkg;
        };

      # Every folder under hosts/ is a host: no list to edit.
      hostDirs = lib.attrNames (lib.filterAttrs (_: v: v == "directory") (builtins.readDir ./hosts));
      mkHosts = lib.genAttrs hostDirs;
    in
    {
      overlays.default = hyprlandOverlay;

      oxConfigurations = mkHosts (name:
        lib.oxSystem {
          inherit system;
          specialArgs = { inherit inputs; };
          modules = [
            ./modules
            ./hosts/${name}
            { nixpkgs.overlays = [ hyprlandOverlay ]; }
          ];
        });
    };
}
