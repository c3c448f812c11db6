builtins.tryEval [ (throw "not forced") ]
