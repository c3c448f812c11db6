# An option's `default` is an mkOptionDefault (priority 1500) definition:
# it is never forced when a definition with a higher priority exists, and
# `defaultText`/`example` are never forced by evaluating `config`.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  eval = modules: lib.evalModules { inherit modules; };
  r = eval [
    {
      options.a = mkOption {
        default = throw "default of a forced";
        defaultText = throw "defaultText of a forced";
        example = throw "example of a forced";
      };
      options.b = mkOption {
        type = types.int;
        default = throw "default of b forced";
      };
      options.c = mkOption {
        type = types.listOf types.int;
        default = [ 5 ];
        example = throw "example of c forced";
      };
      options.d = mkOption { type = types.str; };
      options.f = mkOption {
        type = types.listOf types.int;
        default = throw "default of f forced";
      };
      config.a = 1;
      config.b = lib.mkDefault 2;
      config.d = lib.mkMerge [
        (lib.mkOptionDefault (throw "mkOptionDefault of d forced"))
        (lib.mkDefault (throw "mkDefault of d forced"))
        (lib.mkIf true "plain")
      ];
    }
    { f = lib.mkIf true (lib.mkForce [ 1 ]); }
    { f = lib.mkOptionDefault (throw "mkOptionDefault of f forced"); }
    { f = [ 2 ]; }
  ];
in
{
  inherit (r.config) a b c d f;
  prio = {
    a = r.options.a.highestPrio;
    b = r.options.b.highestPrio;
    c = r.options.c.highestPrio;
    d = r.options.d.highestPrio;
    f = r.options.f.highestPrio;
  };
  defs = {
    b = r.options.b.definitions;
    f = r.options.f.definitions;
  };
}
