# Function-call-heavy recursion: naive doubly-recursive Fibonacci.
# Stresses: lambda application, environment allocation, integer arithmetic, `if`.
let
  fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2);
in
fib 31
