let d = derivation { name = "co"; system = "x86_64-linux"; builder = "/bin/sh"; int = 1; bool = true; f = false; nul = null; list = [ 1 "a" ]; path = ./data/hello.txt; }; in d.drvPath
