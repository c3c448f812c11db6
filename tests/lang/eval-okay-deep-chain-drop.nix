# Folds that nest a million sets, closures and thunks, each owned only by
# the next; each chain becomes garbage while evaluation goes on, and
# freeing it must not overflow the stack.
let
  xs = builtins.genList (i: i) 1000000;
in
[
  (builtins.attrNames (builtins.foldl' (acc: x: { a = acc; }) { } xs))
  (builtins.length (builtins.attrNames (builtins.foldl' (acc: x: { a = acc; b = x + 1; }) { } xs)))
  (builtins.isFunction (builtins.foldl' (acc: x: (y: acc)) null xs))
  (builtins.foldl' (acc: x: { v = x; prev = if x >= 0 then acc else null; }) { } xs).v
]
