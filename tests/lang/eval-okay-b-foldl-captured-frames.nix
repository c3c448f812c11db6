# foldl' reuses the frames of its step function between elements only when
# nothing kept them: closures and lazy values made by earlier steps still
# see their own arguments.
let
  inherit (builtins) foldl' map length;
  fs = foldl' (acc: x: acc ++ [ (y: x * 10 + y) ]) [ ] [ 1 2 3 ];
  chain = foldl' (acc: x: { inherit x; prev = acc; lazy = x + 100; }) null [ 1 2 3 ];
  sum = foldl' (acc: x: acc + x) 0 (builtins.genList (i: i) 100);
  mixed = foldl' (acc: x: if x == 2 then acc ++ [ (_: x) ] else acc ++ [ x ]) [ ] [ 1 2 3 4 ];
in
[
  (map (f: f 5) fs)
  [ chain.x chain.prev.x chain.prev.prev.x chain.prev.lazy chain.prev.prev.lazy ]
  sum
  (builtins.elemAt mixed 0)
  ((builtins.elemAt mixed 1) null)
  (builtins.elemAt mixed 3)
  (length mixed)
]
