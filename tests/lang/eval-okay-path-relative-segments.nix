[ (baseNameOf ./a/../b) (baseNameOf ./data/.) (baseNameOf ./data/./hello.txt) ]
