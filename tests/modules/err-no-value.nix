let
  lib = import <ox/lib>;
in (lib.evalModules {
  modules = [
    { options.noval = lib.mkOption { type = lib.types.str; }; }
  ];
}).config.noval
