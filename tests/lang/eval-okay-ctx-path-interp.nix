builtins.getContext "${./data/hello.txt}"
