"${toString 0.5}|${toString 100.0}"
