{ f = x: x; }.f 3
