# N small derivations (half writeText, half writeScript) and one linkFarm
# over all of them: the shape of a host's many small config files.
{ n ? 1000 }:
let
  pkgs = import <ox/pkgs> { };
  one =
    i:
    let
      s = toString i;
    in
    if builtins.bitAnd i 1 == 0 then
      pkgs.writeText "file-${s}" "file number ${s}\n"
    else
      pkgs.writeScript "script-${s}" "#!/bin/sh\necho script ${s}\n";
  all = builtins.genList one n;
in
pkgs.linkFarm "many-${toString n}" (map (d: { name = d.name; path = d; }) all)
