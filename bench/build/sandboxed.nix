# N runCommand derivations: the cost of a sandboxed process build.
{ n ? 100 }:
let
  pkgs = import <ox/pkgs> { };
  one = i: pkgs.runCommand "cmd-${toString i}" { } "echo ${toString i} > $out";
in
pkgs.linkFarm "sandboxed-${toString n}" (map (d: { name = d.name; path = d; }) (builtins.genList one n))
