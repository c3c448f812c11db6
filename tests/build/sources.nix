# Sources copied into the store: whole directories, filtered ones, flat
# files, and toFile texts with references.
let
  pkgs = import <ox/pkgs> { };
  filtered = builtins.path {
    path = ./data;
    name = "filtered";
    filter = p: t: builtins.match ".*\\.tmp" p == null;
  };
  flat = builtins.path { path = ./data/hello.txt; recursive = false; name = "flat"; };
in
[
  (pkgs.copyPath "whole" ./data)
  (pkgs.copyPath "filtered-copy" filtered)
  (pkgs.writeText "uses" "${./data/hello.txt} ${flat} ${builtins.toFile "t" "see ${./data/sub/keep.txt}"}\n")
]
