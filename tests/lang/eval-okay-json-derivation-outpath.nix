{ d = { type = "derivation"; outPath = "/nix/store/fake"; }; }
