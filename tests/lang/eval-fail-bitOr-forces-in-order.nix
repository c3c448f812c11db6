# bitAnd/bitOr/bitXor force their first argument before the second (ox
# evaluates both directly, without thunks): the first failure is reported.
let
  a = throw "the first argument";
in
builtins.bitOr a (throw "the second argument")
