# Definitions of later modules come first; mkBefore/mkAfter/mkOrder sort.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  cfg = (lib.evalModules {
    modules = [
      { options.l = mkOption { type = types.listOf types.int; };
        options.text = mkOption { type = types.lines; }; }
      { l = [ 1 ]; text = "first"; }
      { l = lib.mkBefore [ 2 ]; text = "second"; }
      { l = [ 3 ]; text = lib.mkAfter "third"; }
      { l = lib.mkOrder 1200 [ 4 ]; }
    ];
  }).config;
in { inherit (cfg) l text; }
