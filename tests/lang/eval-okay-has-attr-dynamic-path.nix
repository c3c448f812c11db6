let k = "b"; in { a = { b = null; }; } ? a.${k}
