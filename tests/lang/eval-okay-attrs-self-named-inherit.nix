let a = { a = 1; }; in { inherit (a) a; }
