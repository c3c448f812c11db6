[ (builtins.typeOf (/a + "b")) (builtins.typeOf ("a" + "b")) ]
