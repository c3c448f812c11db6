with builtins; [ (length []) (length [ 1 ]) (length (genList (x: x) 100)) ]
