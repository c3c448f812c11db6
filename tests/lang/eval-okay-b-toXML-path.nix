builtins.toXML /a/b
