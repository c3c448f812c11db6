let x = builtins.trace "evaluated once" 5; in x + x
