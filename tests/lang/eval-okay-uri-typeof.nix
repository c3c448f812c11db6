[ (builtins.typeOf http://a.b/c) (http://a.b/c == "http://a.b/c") ]
