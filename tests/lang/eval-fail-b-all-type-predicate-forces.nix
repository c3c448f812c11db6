# a type predicate forces the element it tests: the error surfaces
builtins.all builtins.isAttrs [ { } (throw "forced by isAttrs") { } ]
