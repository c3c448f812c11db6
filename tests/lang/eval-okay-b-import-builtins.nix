(builtins.import ./data/dir/b.nix).b
