let xs = [ 1 (builtins.elemAt xs 0 + 1) (builtins.elemAt xs 1 * 10) ]; in xs
