[ (toString /a/b) ]
