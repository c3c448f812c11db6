[ (map toString [ 1 ]) (isNull null) (baseNameOf "/x/y") (removeAttrs { a = 1; } [ "a" ]) (true && !false) (null == builtins.null) ]
