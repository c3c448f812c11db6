let a = builtins.toFile "a" "A"; in builtins.toFile "b" "ref ${a}"
