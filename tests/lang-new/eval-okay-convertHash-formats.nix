# builtins.convertHash (Nix >= 2.19): all target formats of the same sha256("hello") hash,
# starting from a base16 input with an explicit hashAlgo (required for non-SRI input).
let h = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    c = f: builtins.convertHash { hash = h; hashAlgo = "sha256"; toHashFormat = f; };
in map c [ "base16" "nix32" "base32" "base64" "sri" ]
