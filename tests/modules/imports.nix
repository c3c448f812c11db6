# imports (paths, directories, nested), de-duplication by key,
# disabledModules, specialArgs, _module.args, prefix and class.
let
  lib = import <ox/lib>;
  r = lib.evalModules {
    specialArgs = { greeting = "hi"; };
    class = "nixos";
    modules = [
      ./files/a.nix
      ./files/c.nix
      { _module.args.pkgs = { hello = "hello-2.12"; }; }
      { _class = "nixos"; }
    ];
  };
  disabled = lib.evalModules {
    specialArgs = { greeting = "hey"; };
    modules = [ ./files/a.nix { disabledModules = [ ./files/b.nix ]; } { _module.args.pkgs.hello = "h"; } ];
  };
  noCheck = lib.evalModules { modules = [ { _module.check = false; undeclared = 1; } ]; };
in {
  inherit (r.config) fromA greeting;
  disabled = disabled.config.fromA;
  noCheck = noCheck.config;
  class = r.class;
  specialArgs = r._module.specialArgs;
  type = r.type.name;
  extended = ((r.extendModules { modules = [ { fromA = [ "ext" ]; } ]; }).config.fromA);
}
