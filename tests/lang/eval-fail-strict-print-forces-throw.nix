{ a = throw "forced by --strict"; }
