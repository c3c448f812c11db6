# Dynamic attribute names sorted in among the static ones; null names
# are skipped; big sets looked up often (by an index) and missing names.
let
  k = "b";
  big = builtins.listToAttrs (builtins.genList (i: { name = "n${toString (i * 3)}"; value = i; }) 200);
  look = i: big."n${toString i}" or (-1);
in
[
  { a = 1; ${k} = 2; "${k}x" = 3; ${null} = 4; c = 5; "0" = 6; }
  (rec { x = 1; ${k + "y"} = x; z = x + 1; })
  (builtins.foldl' (acc: i: acc + look i) 0 (builtins.genList (i: i) 700))
  (builtins.length (builtins.filter (i: big ? "n${toString i}") (builtins.genList (i: i) 700)))
]
