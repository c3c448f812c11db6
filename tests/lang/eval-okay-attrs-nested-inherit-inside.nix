let v = 1; in { a.b = 2; a = { inherit v; }; }
