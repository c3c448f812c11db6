[ (true && false) (true || false) (false || false) (true && true) (false && throw "x") (true || throw "x") ]
