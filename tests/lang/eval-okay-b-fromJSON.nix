builtins.fromJSON "{\"a\": [1, -2, 3.5, 1e3, true, false, null], \"b\": {\"c\": \"d\\n\\u00e9\\u263a\"}, \"e\": \"\"}"
