builtins.scopedImport { x = 1; y = 2; toString = v: "overridden"; } ./data/scoped.nix
