# a type error in an argument of a primop applied through a variable
let inherit (builtins) foldl'; in
foldl' (a: b: a + b) 0 [ 1 "x" ]
