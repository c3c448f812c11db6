builtins.getContext (builtins.appendContext "a" { "/nix/store/g76zcpqc540lrc8i6g7xy6ip0npn2hnp-a" = { path = true; }; })
