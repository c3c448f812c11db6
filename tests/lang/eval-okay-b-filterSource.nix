builtins.filterSource (path: type: type != "directory" && baseNameOf path != "b.nix") ./data/dir
