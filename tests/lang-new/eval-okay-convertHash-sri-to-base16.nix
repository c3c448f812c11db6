# builtins.convertHash (Nix >= 2.19, absent in 2.8). Manual: "Return the specified
# representation of a hash string"; hashAlgo may be omitted for SRI input; toHashFormat is
# one of "base16", "nix32", "base32" (deprecated alias of nix32), "base64", "sri".
# Expected values below are sha256("") in each encoding.
builtins.convertHash { hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; toHashFormat = "base16"; }
