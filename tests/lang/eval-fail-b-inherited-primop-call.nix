# An error inside a builtin called through a variable with all its
# arguments points at the application.
let
  inherit (builtins) elemAt;
in
elemAt [ 1 2 ] 5
