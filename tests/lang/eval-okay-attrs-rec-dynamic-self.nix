rec { x = "k"; ${"y"} = x; }
