# all / any / filter with a type predicate (tested in place by ox) agree
# with the same predicate behind a lambda, and force the elements.
with builtins;
let xs = [ 1 "s" { } [ ] null true 1.5 /tmp (x: x) isAttrs ]; in [
  (map (p: filter p xs) [ isAttrs isList isString isInt isFloat isBool isNull isPath isFunction ])
  (map (p: [ (all p xs) (any p xs) (all p [ ]) (any p [ ]) ]) [ isAttrs isInt isFunction ])
  (all isAttrs [ { } (let y = { }; in y) ])
  (any isList [ 1 (if true then [ ] else 1) ])
  (filter isInt [ (1 + 1) "x" (2 * 3) ])
  (all isAttrs [ 1 (throw "not reached") ])
  (any isInt [ 1 (throw "not reached") ])
]
