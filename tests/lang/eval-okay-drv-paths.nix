let d = derivation { name = "p"; system = "x86_64-linux"; builder = "/bin/sh"; }; in [ d.drvPath d.outPath d.type d.name "${d}" ]
