let x = "static"; in with { x = "dyn"; }; with { y = 1; }; x
