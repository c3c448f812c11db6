derivation { name = "sp"; system = "x86_64-linux"; builder = "/bin/sh"; }
