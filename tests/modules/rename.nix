# mkRenamedOptionModule, mkAliasOptionModule, mkRemovedOptionModule.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  base = {
    options.new.port = mkOption { type = types.int; default = 1; };
    options.alias.target = mkOption { type = types.str; default = "t"; };
    options.warnings = mkOption { type = types.listOf types.str; default = [ ]; };
    options.assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
  };
  r = lib.evalModules {
    modules = [
      base
      (lib.mkRenamedOptionModule [ "old" "port" ] [ "new" "port" ])
      (lib.mkAliasOptionModule [ "short" ] [ "alias" "target" ])
      (lib.mkRemovedOptionModule [ "gone" ] "Use new.port instead.")
      { _file = "host.nix"; old.port = lib.mkDefault 5; short = "via-alias"; }
    ];
  };
in {
  port = r.config.new.port;
  target = r.config.alias.target;
  warnings = r.config.warnings;
  assertions = map (a: a.assertion) r.config.assertions;
  oldVisible = r.options.old.port.visible;
}
