(builtins.parseDrvName (derivation { name = "pkg-1.2"; system = "s"; builder = "b"; }).name).version
