let s = { foo = 1; bar = { baz = 2; }; }; k = "foo"; in [ s.${k} s.${"ba" + "r"}.baz s."foo" s.bar."baz" ]
