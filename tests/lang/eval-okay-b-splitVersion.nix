map builtins.splitVersion [ "1.2.3" "1.2a" "2.0-pre1" "" "a.b" "1..2" "1_2-3" ]
