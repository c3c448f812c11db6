with builtins; [ (pathExists ./data/hello.txt) (pathExists ./data/nope) (pathExists ./data/dir) (pathExists /nonexistent-ox-path) (pathExists "/") ]
