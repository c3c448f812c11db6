[ /a/b /usr/bin/../lib /a/./b /a/b/. ]
