# Declarations merged across modules, sub-options next to submodule
# options, deferredModule, mkPackageOption, mkAliasDefinitions,
# lazyAttrsOf with mkIf false, either with submodule, mkDefinition.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types mkIf;
  pkgs = { hello = { type = "derivation"; name = "hello-2.12"; outPath = "/nix/store/00000000000000000000000000000000-hello-2.12"; }; };
  r = lib.evalModules {
    specialArgs = { inherit pkgs; };
    modules = [
      { options.services = mkOption { type = types.attrsOf (types.submodule { options.a = mkOption { type = types.int; default = 1; }; }); default = { }; }; }
      { options.services = mkOption { type = types.attrsOf (types.submodule { options.b = mkOption { type = types.int; default = 2; }; }); }; }
      { options.sub = mkOption { type = types.submodule { options.x = mkOption { type = types.int; default = 1; }; }; default = { }; }; }
      { options.sub.y = mkOption { type = types.str; default = "y"; }; }
      { options.deferred = mkOption { type = types.deferredModule; default = { }; }; }
      { deferred = { options.z = mkOption { type = types.int; default = 3; }; }; }
      ({ pkgs, ... }: { options.pkg = lib.mkPackageOption pkgs "hello" { }; })
      { options.src = mkOption { type = types.listOf types.int; default = [ ]; };
        options.dst = mkOption { type = types.listOf types.int; default = [ ]; }; }
      ({ options, ... }: { dst = lib.mkAliasDefinitions options.src; })
      { src = [ 1 2 ]; }
      { options.lazy = mkOption { type = types.lazyAttrsOf types.int; default = { }; }; }
      { lazy.a = 1; lazy.b = mkIf false 2; }
      { options.eith = mkOption { type = types.either types.str (types.submodule { options.p = mkOption { type = types.int; default = 0; }; }); }; }
      { eith = { p = 5; }; }
      { services.web.b = 20; services.db = { }; }
      { sub.x = 10; }
      { options.defn = mkOption { type = types.str; }; }
      { defn = lib.mkDefinition { file = "custom.nix"; value = "v"; }; }
    ];
  };
  c = r.config;
  deferredEval = (lib.evalModules { modules = [ c.deferred ]; }).config;
in {
  inherit (c) services sub dst eith defn;
  lazyNames = builtins.attrNames c.lazy;
  lazyA = c.lazy.a;
  pkgName = c.pkg.name;
  pkgDefaultText = r.options.pkg.defaultText.text;
  pkgDescription = r.options.pkg.description;
  deferred = deferredEval;
  defnFiles = r.options.defn.files;
  subDecls = builtins.length r.options.services.declarations;
}
