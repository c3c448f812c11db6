# builtins.warn e1 e2 (Nix >= 2.23): "Evaluate e1, which must be a string, and print it on
# standard error as a warning. Then return e2" (unless abort-on-warn is set). stdout unaffected.
builtins.warn "a warning" { ok = true; }
