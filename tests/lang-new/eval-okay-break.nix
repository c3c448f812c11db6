# builtins.break v (Nix >= 2.9): "In debug mode (enabled using --debugger), pause Nix
# expression evaluation and enter the REPL. Otherwise, return the argument v."
[ (builtins.break 5) (builtins.break "s") ]
