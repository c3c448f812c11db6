# the error of a primop applied through a variable points at the call
let inherit (builtins) elemAt; xs = [ 1 2 ]; in
elemAt xs 5
