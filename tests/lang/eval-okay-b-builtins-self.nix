[ (builtins.builtins.add 1 2) (builtins ? map) (builtins.isAttrs builtins) ]
