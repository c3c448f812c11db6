# Used by definition-positions.nix: the line and column of each
# definition are part of the expected output.
{ lib, ... }:
{
  l = lib.mkIf true
    [ 3 ];
  s.x = "from file";
}
