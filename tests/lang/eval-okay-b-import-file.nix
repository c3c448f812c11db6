import ./data/fn.nix { b = 2; }
