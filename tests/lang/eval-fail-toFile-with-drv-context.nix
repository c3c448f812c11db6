let d = derivation { name = "d"; system = "x"; builder = "/bin/sh"; }; in builtins.toFile "f" "${d}"
