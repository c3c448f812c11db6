# A division by zero in a one-operator lambda body is still an error.
builtins.map (x: 100 / x) [ 1 0 ]
