let xs = builtins.genList (i: { k = builtins.bitAnd i 3; i = i; }) 64; in map (x: x.i) (builtins.sort (a: b: a.k < b.k) xs)
