# Stands in for github:outfoxxed/hy3?ref=hl0.54.2; it must be built
# against the same compositor version, hence `follows` in the fleet.
{
  description = "hy3 tiling plugin (local stand-in, for Hyprland 0.54.2)";
  inputs.hyprland.url = "path:../hyprland";
  outputs = { self, hyprland }:
    let
      hl = hyprland.version;
      pkgs = hyprland.inputs.ox.legacyPackages.x86_64-linux;
      hy3 = pkgs.writeTextDir "lib/libhy3.so.txt" ''
        hy3 plugin built for Hyprland ${hl}
      '';
    in
    {
      packages.x86_64-linux = {
        inherit hy3;
        default = hy3;
      };
    };
}
