builtins.seq (x: x) "functions are WHNF"
