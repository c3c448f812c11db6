# a non-list element after empty and non-empty lists
builtins.concatLists [ [ ] [ 1 ] { a = 1; } [ 2 ] ]
