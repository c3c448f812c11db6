{ __toString = self: "x"; a = 1; }
