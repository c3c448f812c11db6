with builtins; [ (stringLength "") (stringLength "abc") (stringLength "ü") (stringLength "a\nb") ]
