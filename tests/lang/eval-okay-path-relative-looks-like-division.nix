[ (builtins.typeOf 6/3) (6 / 3) (builtins.baseNameOf 6/3) ]
