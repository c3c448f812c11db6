builtins.readFile <testdata/hello.txt>
