map baseNameOf [ "/a/b/c" "a/b/" "abc" "" "/" "a//" /x/y.tar.gz ]
