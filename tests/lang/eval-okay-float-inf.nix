let big = 1.0e308 * 10; in [ big (0 - big) (big > 1) (builtins.typeOf big) ]
