builtins.path { path = ./data/dir; filter = path: type: type == "regular"; }
