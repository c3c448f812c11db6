# builtins.convertHash (Nix >= 2.19): hashAlgo is only optional for SRI hashes;
# a bare base16 hash without hashAlgo is an error.
builtins.convertHash { hash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; toHashFormat = "sri"; }
