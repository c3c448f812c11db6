(import ./data/nested-import.nix).value
