# builtins.convertHash (Nix >= 2.19): the input format (nix32 here) is auto-detected
# from the string; md5("hello") converted to SRI.
builtins.convertHash { hash = "4jqlbi14cxf6wpcajbphm40hax"; hashAlgo = "md5"; toHashFormat = "sri"; }
