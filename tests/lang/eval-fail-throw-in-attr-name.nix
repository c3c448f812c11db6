{ ${throw "attr name"} = 1; }
