let n = "x"; in rec { a = 1; ${n} = a + 1; }
