# Nix 2.8 wraps on signed overflow
(-9223372036854775807) - 3
