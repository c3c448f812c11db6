{ i = -5; f = 2.5; s = "str"; b = true; n = null; p = /a/b; l = [ ]; e = { }; fn = x: x; pr = builtins.map; pa = builtins.map (x: x); }
