{ a = throw "eq forces"; } == { a = 1; }
