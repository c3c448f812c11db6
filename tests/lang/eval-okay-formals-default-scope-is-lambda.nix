let b = "outer"; in ({ a ? b, b ? "inner" }: a) {}
