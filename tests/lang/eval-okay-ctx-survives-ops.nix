let f = builtins.toFile "f" "x"; in map builtins.hasContext [ (f + "x") (builtins.substring 0 5 f) (builtins.replaceStrings [ "a" ] [ "b" ] f) (toString [ f ]) (builtins.concatStringsSep "," [ f ]) ]
