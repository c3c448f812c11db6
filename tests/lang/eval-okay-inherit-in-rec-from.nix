rec { s = { v = 1; }; inherit (s) v; w = v + 1; }
