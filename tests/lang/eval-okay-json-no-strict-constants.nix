{ a = 1; s = "x"; n = null; }
