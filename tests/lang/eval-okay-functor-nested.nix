let f = { __functor = self: a: b: a * b; }; in [ (f 3 4) (builtins.isFunction f) (builtins.isAttrs f) ]
