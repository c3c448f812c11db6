[ (builtins.tryEval 1) (builtins.tryEval { a = throw "inner lazy"; }).success ]
