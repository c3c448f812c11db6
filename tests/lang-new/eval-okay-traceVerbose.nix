# builtins.traceVerbose e1 e2 (Nix >= 2.10): "Evaluate e1 and print its abstract syntax
# representation on standard error if --trace-verbose is enabled. Then return e2."
# stdout is unaffected either way.
builtins.traceVerbose "only with --trace-verbose" 42
