builtins.split "z" "abc"
