let a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; }; b = derivation { name = "b"; system = "x86_64-linux"; builder = "/bin/sh"; dep = a; }; in [ b.drvPath b.outPath ]
