builtins.stringLength (builtins.concatStringsSep "" (builtins.genList (i: "ab") 1000))
