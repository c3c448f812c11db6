[ (builtins.hasContext "x") (builtins.hasContext "${builtins.toFile "f" "x"}") ]
