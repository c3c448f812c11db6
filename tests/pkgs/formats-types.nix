# pkgs.formats.<f>.type as option types: values of the format pass and merge.
let
  pkgs = import <ox/pkgs> { };
  lib = pkgs.lib;
  check = fmt: v: (lib.evalModules { modules = [ { options.x = lib.mkOption { type = fmt.type; }; config.x = v; } ]; }).config.x;
in {
  json = check (pkgs.formats.json {}) { a = [ 1 { b = null; } ]; c = "s"; };
  toml = check (pkgs.formats.toml {}) { a = { b = [ 1 2 ]; }; };
  ini = check (pkgs.formats.ini {}) { s = { a = 1; b = "x"; }; };
  kv = check (pkgs.formats.keyValue { listsAsDuplicateKeys = true; }) { a = [ "1" "2" ]; b = true; };
  merged = (lib.evalModules { modules = [ { options.x = lib.mkOption { type = (pkgs.formats.json {}).type; }; } { x.a = 1; } { x.b = 2; } ]; }).config.x;
}
