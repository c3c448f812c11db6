let v = { x = [ 1 { y = "z"; } ]; n = null; }; in builtins.fromJSON (builtins.toJSON v) == v
