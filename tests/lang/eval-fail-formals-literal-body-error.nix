# an error in the body of a function called with a set literal: the trace
# names the call
let f = { config }: config.missing; in f { config = { present = 1; }; }
