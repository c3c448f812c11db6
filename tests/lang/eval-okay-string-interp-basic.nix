let n = "world"; in "hello ${n}! ${"nested ${n}"}"
