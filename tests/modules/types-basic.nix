# Checks and merges of the simple types.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  opt = type: mkOption { inherit type; };
  cfg = (lib.evalModules {
    modules = [
      { options = {
          b = opt types.bool; i = opt types.int; u8 = opt types.ints.u8; port = opt types.port;
          f = opt types.float; n = opt types.number; s = opt types.str; ne = opt types.nonEmptyStr;
          sl = opt types.singleLineStr; e = opt (types.enum [ "a" "b" ]); p = opt types.path;
          nullable = opt (types.nullOr types.int); nul = opt (types.nullOr types.int);
          either = opt (types.either types.int types.str); oneOf = opt (types.oneOf [ types.bool types.int types.str ]);
          coerced = opt (types.coercedTo types.int toString types.str);
          matching = opt (types.strMatching "[a-z]+");
          commas = opt types.commas; envVar = opt types.envVar; sep = opt (types.separatedString "|");
          attrs = opt types.attrs; byOr = opt types.boolByOr; between = opt (types.ints.between 1 10);
          lazy = opt (types.lazyAttrsOf types.int); fn = opt (types.functionTo (types.listOf types.int));
          anything = opt types.anything; uniq = opt (types.uniq types.int); raw = opt types.raw;
          unspec = mkOption { }; nel = opt (types.nonEmptyListOf types.int);
        }; }
      { b = true; i = -3; u8 = 255; port = 22; f = 1.5; n = 2; s = "x"; ne = "y"; sl = "one line\n"; e = "b";
        p = "/etc/hosts"; nullable = 1; nul = null; either = "s"; oneOf = 3; coerced = 42; matching = "abc";
        commas = "a"; envVar = "/bin"; sep = "x"; attrs = { a = 1; b = 1; }; byOr = false; between = 5;
        lazy.a = 1; fn = x: [ x ]; anything = { a = [ 1 ]; b.c = "d"; }; uniq = 7; raw = { r = 1; };
        unspec = [ 1 ]; nel = [ 1 ]; }
      { i = -3; commas = "b"; envVar = "/usr/bin"; sep = "y"; attrs = { b = 2; }; byOr = true;
        lazy.b = 2; fn = x: [ (x + 1) ]; anything = { b.e = "f"; }; unspec = [ 2 ]; }
    ];
  }).config;
in cfg // { fn = cfg.fn 10; }
