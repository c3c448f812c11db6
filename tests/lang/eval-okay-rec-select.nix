(rec { a = b; b = 5; }).a
