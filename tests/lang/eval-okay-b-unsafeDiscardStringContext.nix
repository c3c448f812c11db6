let s = "${builtins.toFile "f" "x"}"; in [ (builtins.hasContext s) (builtins.hasContext (builtins.unsafeDiscardStringContext s)) ]
