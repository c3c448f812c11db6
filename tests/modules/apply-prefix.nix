# mkOption apply, prefix in messages and locations, _module.args in
# submodules, options of a submodule via the `options` argument.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  r = lib.evalModules {
    prefix = [ "hosts" "a" ];
    modules = [
      { options.port = mkOption { type = types.port; default = 80; apply = p: "port-${toString p}"; };
        options.users = mkOption { type = types.listOf types.str; default = [ ]; apply = lib.unique; }; }
      { users = [ "b" "a" "b" ]; }
      ({ options, ... }: { options.portDefined = mkOption { type = types.bool; default = options.port.isDefined; }; })
    ];
  };
  bad = builtins.tryEval (lib.evalModules { prefix = [ "p" ]; modules = [ { options.x = mkOption { type = types.int; }; } ]; }).config.x;
in {
  inherit (r.config) port users portDefined;
  loc = r.options.port.loc;
  shown = "${r.options.port}";
  bad = bad.success;
}
