# Folds that nest a million lists directly in lists (no set or thunk in
# between); each chain becomes garbage while evaluation goes on, and
# freeing it must not overflow the stack.
let
  xs = builtins.genList (i: i) 1000000;
  f = n: builtins.seq (builtins.foldl' (acc: x: [ acc ]) [ ] (builtins.genList (i: i) n)) n;
in
[
  (f 1000000 + f 10)
  (builtins.length (builtins.foldl' (acc: x: [ acc x ]) [ ] xs))
  (builtins.length (builtins.attrNames { a = builtins.seq (builtins.foldl' (acc: x: [ [ acc ] ]) [ ] xs) 1; }))
]
