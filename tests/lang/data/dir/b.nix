{ b = "from b.nix"; }
