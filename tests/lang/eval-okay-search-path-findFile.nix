builtins.pathExists <testdata/dir>
