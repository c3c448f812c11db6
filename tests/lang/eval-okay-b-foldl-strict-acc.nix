builtins.foldl' (acc: x: acc + x) 0 (builtins.genList (x: x) 10000)
