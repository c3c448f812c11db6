# an attribute of a set literal argument that is not a formal
let f = { a, b ? 2 }: a + b; in f { a = 1; c = 3; }
