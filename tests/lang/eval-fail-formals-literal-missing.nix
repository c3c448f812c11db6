# a required formal missing from a set literal argument
let f = { a, b }: a + b; in f { a = 1; }
