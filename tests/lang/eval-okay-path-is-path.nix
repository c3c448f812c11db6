with builtins; [ (isPath /a) (isPath "/a") (isPath (/a + "b")) (isPath (toString /a)) (typeOf /.) ]
