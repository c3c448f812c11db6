builtins.length ([ 1 ] ++ [ (throw "lazy elem") ])
