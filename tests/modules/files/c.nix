{ fromA = [ "c" ]; }
