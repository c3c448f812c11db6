let x = null; in assert x != null -> x > 0; "ok"
