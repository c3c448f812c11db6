{ "if" = 1; "then" = 2; "let" = 3; "rec" = 4; }
