with builtins; [ (match "a(b)c" "abc") (match "a" "ab") (match "(a)(x)?" "a") (match ".*" "") (match "([0-9]+)\\.([0-9]+)" "12.34") (match "[[:alpha:]]+" "abc") (match "(.*)-(.*)" "a-b-c") ]
