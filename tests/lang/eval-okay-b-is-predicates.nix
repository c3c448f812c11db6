with builtins; map (v: [ (isInt v) (isFloat v) (isString v) (isBool v) (isNull v) (isList v) (isAttrs v) (isFunction v) (isPath v) ]) [ 1 1.5 "s" false null [ ] { } (x: x) /p builtins.map ]
