# an error inside the argument of toString reached through a variable
let inherit (builtins) toString; in
{ "x${toString (1 + "a")}" = 1; }
