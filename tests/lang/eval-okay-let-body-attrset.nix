let a = 3; in { inherit a; b = a; }
