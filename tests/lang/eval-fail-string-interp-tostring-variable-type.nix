# toString through a variable, in an interpolation, on a value it rejects
let inherit (builtins) toString; f = x: x; in
"a${toString f}b"
