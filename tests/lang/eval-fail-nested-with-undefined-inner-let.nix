let f = with { a = 1; }; x: b; in f 1
