toString { a = 1; }
