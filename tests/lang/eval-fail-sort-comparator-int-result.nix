# A comparator that is integer arithmetic on its arguments returns an
# integer, not a Boolean: still an error (ox computes such bodies in place).
builtins.sort (a: b: a - b) [ 3 1 2 ]
