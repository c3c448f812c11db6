# builtins.readFileType (Nix >= 2.14) returns the same type strings that builtins.readDir reports.
let d = ../lang/data/dir; in builtins.mapAttrs (n: t: builtins.readFileType (d + "/${n}") == t) (builtins.readDir d)
