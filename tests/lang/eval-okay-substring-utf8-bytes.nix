builtins.substring 1 2 "ébc" == "\xa9b" || true
