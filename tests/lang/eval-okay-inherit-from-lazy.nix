({ inherit (throw "boom") a; b = 2; }).b
