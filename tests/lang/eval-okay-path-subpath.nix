[ /a/b.c /a-b/c_d /a+b/c ]
