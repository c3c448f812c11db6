{ "a b" = 1; "" = 2; "x.y" = 3; "1a" = 4; a-b = 5; a'b = 6; "with\"quote" = 7; }
