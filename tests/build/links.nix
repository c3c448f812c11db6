# symlinkJoin merges trees; linkFarm makes links by name.
let
  pkgs = import <ox/pkgs> { };
  a = pkgs.writeScriptBin "a" "#!/bin/sh\n";
  b = pkgs.writeScriptBin "b" "#!/bin/sh\n";
  doc = pkgs.writeTextDir "share/doc/a/README" "a\n";
  dup = pkgs.writeScriptBin "a" "#!/bin/sh\n# second a, loses\n";
in
{
  join = pkgs.symlinkJoin {
    name = "ab";
    paths = [ a b doc dup ];
  };
  farmList = pkgs.linkFarm "farm-list" [
    { name = "bin/a"; path = "${a}/bin/a"; }
    { name = "doc"; path = doc; }
  ];
  farmSet = pkgs.linkFarm "farm-set" { "x/y" = b; z = a; };
  farmDrvs = pkgs.linkFarmFromDrvs "farm-drvs" [ a doc ];
}
