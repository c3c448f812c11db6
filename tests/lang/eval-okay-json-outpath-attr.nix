{ outPath = "/out"; other = 1; }
