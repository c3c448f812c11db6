# Overlays are applied as a fixpoint: a later overlay's change is seen
# by everything that reads the attribute through `final`.
let
  pkgs = import <ox/pkgs> {
    overlays = [
      (final: prev: {
        message = "from the first overlay";
        tool = final.writeShellScriptBin "tool" "echo ${final.message}";
        wrapped = final.symlinkJoin { name = "wrapped"; paths = [ final.tool ]; };
      })
      (final: prev: { message = prev.message + ", amended by the second"; })
      (final: prev: { tool = prev.tool // { extra = true; }; })
    ];
  };
  pkg = { writeText, message, suffix ? "!" }: writeText "called" "${message}${suffix}\n";
in
{
  inherit (pkgs) tool wrapped;
  called = pkgs.callPackage pkg { };
  overridden = (pkgs.callPackage pkg { }).override { suffix = "?"; };
  fromFile = pkgs.callPackage ./data/pkg.nix { };
}
