builtins.deepSeq { a = [ 1 { b = 2; } ]; } "deep ok"
