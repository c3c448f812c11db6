let x = throw "never"; y = 5; in y
