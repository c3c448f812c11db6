[ 1 (throw "not compared") ] == [ 1 ]
