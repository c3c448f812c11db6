# Selections by `"a${toString i}"` (integers and other values) from
# several sets built by one big literal, directly and through `//`.
let
  lit = k: { a0 = k + 0; a1 = k + 1; a2 = k + 2; a3 = k + 3; a4 = k + 4; a5 = k + 5; a6 = k + 6; a7 = k + 7; a8 = k + 8; a9 = k + 9; a10 = k + 10; a11 = k + 11; a12 = k + 12; a13 = k + 13; a14 = k + 14; a15 = k + 15; a16 = k + 16; a17 = k + 17; a18 = k + 18; a19 = k + 19; a20 = k + 20; a21 = k + 21; a22 = k + 22; a23 = k + 23; a24 = k + 24; a25 = k + 25; a26 = k + 26; a27 = k + 27; a28 = k + 28; a29 = k + 29; a30 = k + 30; a31 = k + 31; a32 = k + 32; a33 = k + 33; a34 = k + 34; a35 = k + 35; a36 = k + 36; a37 = k + 37; a38 = k + 38; a39 = k + 39; };
  sets = builtins.genList (k: lit (k * 100)) 3;
  pick = s: builtins.genList (i: s."a${toString i}") 40;
  sum = builtins.foldl' (a: b: a + b) 0;
  ids = [ (toString 1) 2 true 3.5 null [ 4 5 ] (0 - 1) 70000 ];
  other = s: map (x: s."a${toString x}" or "none") ids;
in
map (s: sum (pick s)) sets
++ map (s: sum (pick (s // { a3 = 1000; }))) sets
++ [ (other (builtins.head sets)) ({ a1 = 7; } // builtins.head sets).a1 ]
