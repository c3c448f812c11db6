builtins.deepSeq { f = x: throw "body not run"; } 1
