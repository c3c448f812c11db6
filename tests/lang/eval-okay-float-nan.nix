let big = 1.0e308 * 10; nan = big - big; in [ nan (nan == nan) ]
