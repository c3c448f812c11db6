let d = derivation { name = "t"; system = "s"; builder = "b"; }; in [ (d.type == "derivation") (builtins.isAttrs d) (d ? drvAttrs) ]
