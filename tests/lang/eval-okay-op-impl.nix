[ (true -> false) (false -> throw "short") (true -> true) (false -> false) ]
