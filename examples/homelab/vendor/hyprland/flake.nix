# Stands in for github:hyprwm/Hyprland/v0.54.2 so the example works offline.
{
  description = "Hyprland compositor (local stand-in, v0.54.2)";
  inputs.ox.url = "ox";
  outputs = { self, ox }:
    let
      pkgs = ox.legacyPackages.x86_64-linux;
      hyprland = pkgs.writeShellScriptBin "Hyprland" ''
        echo "Hyprland 0.54.2 (ox example stand-in)"
      '';
    in
    {
      version = "0.54.2";
      packages.x86_64-linux = {
        inherit hyprland;
        default = hyprland;
      };
    };
}
