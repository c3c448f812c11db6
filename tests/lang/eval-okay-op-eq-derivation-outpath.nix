let a = { type = "derivation"; outPath = "x"; p = 1; }; b = { type = "derivation"; outPath = "x"; p = 2; }; in a == b
