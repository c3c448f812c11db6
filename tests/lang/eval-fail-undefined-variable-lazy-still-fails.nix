let unused = nosuchvar; in 1
