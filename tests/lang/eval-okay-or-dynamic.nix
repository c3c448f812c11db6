let s = { a = 1; }; k = "b"; in [ (s.${k} or "dflt") (s.${"a"} or 0) ]
