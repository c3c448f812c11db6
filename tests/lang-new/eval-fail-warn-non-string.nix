# builtins.warn (Nix >= 2.23): the message "must be a string"; anything else is an error.
builtins.warn 1 2
