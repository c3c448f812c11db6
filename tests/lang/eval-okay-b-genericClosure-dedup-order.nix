map (x: x.key) (builtins.genericClosure { startSet = [ { key = "c"; } { key = "a"; } { key = "c"; } ]; operator = x: [ { key = "b"; } ]; })
