let p = { outPath = ./data/hello.txt; }; in builtins.typeOf "${p}"
