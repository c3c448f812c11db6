let a = { b = "B"; }; in "${a.b}-${if true then "t" else "f"}-${toString (1 + 2)}"
