[ "héllo" (builtins.stringLength "héllo") (builtins.substring 0 2 "héllo") "日本" ]
