let s = { x = { y = 9; }; }; in { inherit (s.x) y; }
