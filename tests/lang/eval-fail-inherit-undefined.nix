{ inherit nosuch; }
