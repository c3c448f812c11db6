let a = b; b = a; in 1
