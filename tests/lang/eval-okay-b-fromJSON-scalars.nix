map builtins.fromJSON [ "1" "-0" "1.5" "1E2" "\"s\"" "null" "true" "[]" "{}" " 7 " ]
