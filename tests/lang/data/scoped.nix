{ sum = x + y; str = toString 42; }
