builtins.tryEval ({}.a)
