[ (builtins.readFile ./data/hello.txt) (builtins.readFile ./data/with-newlines.txt) (builtins.readFile ./data/empty.txt) ]
