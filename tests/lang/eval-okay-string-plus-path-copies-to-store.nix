[ ("/x" + ./data/hello.txt) (builtins.typeOf ("s" + ./data/hello.txt)) "${./data/hello.txt}" ]
