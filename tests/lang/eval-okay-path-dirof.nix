[ (dirOf /a/b/c) (dirOf /a) (dirOf /.) (builtins.dirOf "a/b") (dirOf "a") (dirOf "/a/b/") (dirOf "") (builtins.typeOf (dirOf /a/b)) ]
