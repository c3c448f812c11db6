# mkForce/mkOverride/mkDefault/mkOptionDefault and plain definitions.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  eval = modules: (lib.evalModules { inherit modules; }).config;
in {
  force = (eval [
    { options.l = mkOption { type = types.listOf types.int; }; }
    { l = lib.mkForce [ 9 ]; }
    { l = lib.mkOverride 49 [ 8 ]; }
    { l = [ 1 ]; }
  ]).l;
  optionDefault = (eval [
    { options.l = mkOption { type = types.listOf types.int; default = [ 0 ]; }; }
    { l = lib.mkOptionDefault [ 7 ]; }
  ]).l;
  defaultLoses = (eval [
    { options.s = mkOption { type = types.str; default = "decl"; }; }
    { s = lib.mkDefault "weak"; }
    { s = "plain"; }
  ]).s;
  defaultWins = (eval [
    { options.s = mkOption { type = types.str; default = "decl"; }; }
    { s = lib.mkDefault "weak"; }
  ]).s;
  vm = (eval [
    { options.i = mkOption { type = types.int; }; }
    { i = lib.mkForce 1; }
    { i = lib.mkVMOverride 2; }
  ]).i;
  pushedDown = (eval [
    { options.a.x = mkOption { type = types.int; }; options.a.y = mkOption { type = types.int; }; }
    { a = lib.mkForce { x = 1; y = 2; }; }
    { a.x = 10; }
  ]).a;
}
