builtins.toJSON [ 0.1 1.0 1.0e-10 123456789.123 ]
