[ (builtins.add 2 3) (builtins.sub 2 3) (builtins.mul 4 5) (builtins.add 1 0.5) (builtins.mul 2.5 2) (builtins.sub 1.0 1) ]
