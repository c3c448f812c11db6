# "${toString x}" is written straight into the string when x is an
# integer, whether toString is the builtin itself or a variable bound to it.
let
  inherit (builtins) toString;
  t2 = builtins.toString;
  shadow = let toString = x: "X"; in "${toString 5}";
  ints = [ 0 1 9 10 11 99 100 101 999 1000 12345 (-5) (-10) (-100) 9223372036854775807 (-9223372036854775807) ];
in
map (i: "a${toString i}|${builtins.toString (0 - i)}") ints
++ [ shadow "${t2 [ 1 2 ]}${toString null}${toString true}${toString 1.5}" "${toString "s"}" ]
