let d = derivation { name = "c"; system = "x86_64-linux"; builder = "/bin/sh"; }; in builtins.getContext d.drvPath
