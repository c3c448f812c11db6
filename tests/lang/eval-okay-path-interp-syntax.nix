let f = "hello.txt"; in builtins.readFile ./data/${f}
