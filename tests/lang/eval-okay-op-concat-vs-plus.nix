[ ([ 1 ] ++ [ 2 ]) (builtins.length ([ 1 ] ++ [ 2 3 ])) ]
