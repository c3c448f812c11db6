# every escape the JSON printer knows, runs of plain bytes between them,
# non-ASCII text, and sets printed through __toString / outPath
builtins.toJSON {
  esc = "a\"b\\c\nd\re\tf${builtins.fromJSON ''"\u0001\u0008\u000c\u001f\u007f"''}g";
  uni = "héllo → ✓ ${builtins.fromJSON ''"\u00e9"''}";
  plain = "no escapes at all";
  empty = "";
  str = { __toString = self: "via toString"; x = 1; };
  out = { outPath = "/some/path\n"; a = 1; z = 2; };
  both = { __toString = self: "wins"; outPath = "/p"; };
  notsp = { _a = 1; o = 2; outPat = 3; __toStrin = 4; };
  big = builtins.listToAttrs (map (n: { name = "n${toString n}"; value = n; }) (builtins.genList (x: x) 20)) // { outPath = "big"; };
}
