builtins.head (builtins.tail [ (throw "a") 2 (throw "c") ])
