builtins.toXML (throw "in xml")
