let o = { outPath = "/some/out"; }; in "p=${o}"
