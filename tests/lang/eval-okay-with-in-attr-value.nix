let s = { v = 3; }; in { r = with s; v * 2; }
