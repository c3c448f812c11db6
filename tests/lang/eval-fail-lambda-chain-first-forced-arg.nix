# A curried chain whose body forces one of its arguments first gets that
# argument evaluated at the call; an error in it still names the call.
let
  f = a: b: c: b.y + a + c;
in
[ (f 1 { y = 2; } 3) (f 1 (1 + "a") 2) ]
