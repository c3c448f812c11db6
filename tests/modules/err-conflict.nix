let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.s = lib.mkOption { type = lib.types.str; }; }
    { s = "one"; }
    { _file = "/virtual/other.nix"; s = "two"; }
  ];
}).config.s
