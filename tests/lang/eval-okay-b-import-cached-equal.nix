import ./data/fn.nix == import ./data/fn.nix
