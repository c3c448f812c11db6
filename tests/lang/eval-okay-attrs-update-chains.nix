# `//` chains deep enough to be flattened, with shadowing across layers,
# right-associative small right-hand sides, and lookups between steps.
let
  step = acc: i: acc // { "k${toString (i - i / 7 * 7)}" = i; } // { last = i; inherit (acc) last0; };
  s = builtins.foldl' step { a = 0; last0 = -1; } (builtins.genList (i: i) 100);
  mid = builtins.foldl' (acc: i: acc // { x = acc.x + i; }) { x = 0; y = 1; } (builtins.genList (i: i) 37);
in [ (builtins.attrNames s) s.k3 s.last (s ? a) (builtins.length (builtins.attrValues s)) mid ({ a = 1; } // mid // { y = 2; }) ]
