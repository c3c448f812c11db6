builtins.toXML { b = { c = 1; }; a = "x"; }
