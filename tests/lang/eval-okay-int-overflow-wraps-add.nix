# Nix 2.8 wraps on signed overflow (newer Nix reports an error)
9223372036854775807 + 1
