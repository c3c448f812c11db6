map toString [ 1 (-3) "s" true false null [ 1 2 ] [ ] [ 1 [ 2 [ 3 ] ] ] [ null true false "x" ] /a/b { __toString = s: "ts"; } { outPath = "op"; } 1.5 ]
