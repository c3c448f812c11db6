# Bit operations on computed arguments: variables, arithmetic, lazy
# bindings forced through the operation, and results shared afterwards.
let
  m = x: builtins.bitAnd x 1048575;
  xs = builtins.genList (i: i * 1103515245 + 12345) 4;
  s = rec { a = builtins.bitXor b 255; b = builtins.bitOr 3 (c * 4); c = 5; };
in
[ (map m xs) (builtins.bitAnd (m 4095) (builtins.bitOr 1 2)) s.a s.b ]
