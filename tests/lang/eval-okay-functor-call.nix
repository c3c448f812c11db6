let f = { __functor = self: x: self.k + x; k = 10; }; in f 5
