[ (toString /a/b) (toString /a/b/../c) (builtins.typeOf ("" + ./data/hello.txt)) ]
