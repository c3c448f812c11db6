let s = { y = 1; }; in builtins.deepSeq s [ s s ]
