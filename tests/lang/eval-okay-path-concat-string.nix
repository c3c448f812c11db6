[ (/a + "/b") (/a + "b") (/a + "/b/../c") (builtins.typeOf (/a + "b")) ]
