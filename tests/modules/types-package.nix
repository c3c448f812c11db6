let
  lib = import <ox/lib>;
  hello = { type = "derivation"; name = "hello"; outPath = "/nix/store/00000000000000000000000000000000-hello"; };
  r = lib.evalModules {
    modules = [
      { options.pkgs = lib.mkOption { type = lib.types.listOf lib.types.package; default = [ ]; };
        options.one = lib.mkOption { type = lib.types.package; };
        options.n = lib.mkOption { type = lib.types.ints.positive; default = 1; }; }
      { pkgs = [ hello ]; one = hello; }
    ];
  };
in { names = map (p: p.name) r.config.pkgs; one = r.config.one.name; inherit (r.config) n;
     checks = map lib.types.package.check [ hello "/nix/store/00000000000000000000000000000000-x" "/etc" 1 ]; }
