let lib = import <ox/lib>; in with lib.generators; {
  ini = toINI { } { main = { a = 1; b = true; s = "x y"; }; "sec.tion" = { f = 1.5; }; };
  iniDup = toINI { listsAsDuplicateKeys = true; } { s = { k = [ 1 2 ]; }; };
  iniGlobal = toINIWithGlobalSection { } { globalSection = { g = "1"; }; sections = { s.k = "v"; }; };
  kv = toKeyValue { } { a = 1; b = "two"; c = null; };
  kvSep = toKeyValue { mkKeyValue = mkKeyValueDefault { } ": "; } { a = 1; };
  json = toJSON { } { a = [ 1 "x" ]; };
  yaml = toYAML { } { a = 1; };
  pretty = toPretty { } { a = [ 1 "two" { b = null; } ]; f = x: x; s = "multi\nline"; e = { }; l = [ ]; };
  prettyFlat = toPretty { multiline = false; } { a = [ 1 2 ]; };
  git = toGitINI { user.name = "A"; "remote \"o\"".url = "u"; core.x.y = true; };
}
