[ "a\nb" "tab\t" "q\"" "back\\" "ctl${builtins.fromJSON "\"\\u0001\""}" "é" "/" ]
