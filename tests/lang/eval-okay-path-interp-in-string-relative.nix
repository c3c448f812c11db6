baseNameOf "${./data/hello.txt}"
