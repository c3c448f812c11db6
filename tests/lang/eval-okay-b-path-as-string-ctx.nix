builtins.hasContext "${builtins.path { path = ./data/hello.txt; }}"
