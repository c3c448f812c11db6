let k = "nope"; in { a = 1; }.${k}
