with builtins; [ (split "/" "/a/b") (split "(a)|b" "xaybz") (split "," "") (split "(x)?y" "ay") (split "[[:space:]]+" " foo  bar ") ]
