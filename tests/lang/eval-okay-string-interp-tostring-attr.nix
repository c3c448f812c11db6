let o = { __toString = self: "obj:${self.v}"; v = "V"; }; in "got ${o}"
