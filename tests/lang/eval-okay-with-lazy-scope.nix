with (throw "not evaluated"); 1
