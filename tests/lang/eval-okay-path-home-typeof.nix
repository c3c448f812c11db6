[ (builtins.typeOf ~/foo) (baseNameOf ~/foo/bar.txt) ]
