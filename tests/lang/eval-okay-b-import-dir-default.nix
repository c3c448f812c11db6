import ./data/imp
