let s = { y = 1; }; in [ s s { z = s; } ]
