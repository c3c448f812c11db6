# Option declarations that read something of their module's call must
# not be shared between evaluations (ox evaluates the parts of `options`
# that read only `lib` once per module function, see
# crates/ox-modules/src/share.rs); the parts that are shared must give
# the same values as before. Each module is evaluated for two hosts.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  base = { config, lib, ... }: {
    options.host = mkOption { type = types.str; };
    options.n = mkOption { type = types.int; default = 1; };
  };
  # direct reference to `config`
  direct = { config, lib, ... }: {
    options.d.a = mkOption { type = types.str; default = "${config.host}-a"; };
    options.d.shared = mkOption { type = types.int; default = 7; };
  };
  # through `let` bindings (one of them inherits from `config`, one is a
  # cycle of bindings)
  viaLet = { config, lib, ... }:
    let
      cfg = config;
      inherit (config) host;
      t = types;
      ok = 3;
      c1 = c2;
      c2 = if false then c1 else config.n;
    in {
      options.l.cfg = mkOption { type = t.str; default = cfg.host; };
      options.l.inh = mkOption { type = t.str; default = host; };
      options.l.ok = mkOption { type = t.int; default = ok; };
      options.l.cycle = mkOption { type = t.int; default = c2; };
    };
  # specialArgs and `@` arguments
  special = args@{ lib, tag, ... }: {
    options.s.tag = mkOption { type = types.str; default = tag; };
    options.s.at = mkOption { type = types.str; default = args.config.host; };
  };
  # a function inside `options` that reads the module's `config`, and
  # one that reads only its own argument
  inner = { config, lib, ... }: {
    options.i.f = mkOption { type = types.str; default = (x: x + config.host) "f-"; };
    options.i.g = mkOption { type = types.str; default = (x: x + "g") "g-"; };
    # curried: `x: y: …` binds both in one frame
    options.i.h = mkOption { type = types.str; default = (x: y: x + y + config.host) "h" "-"; };
    options.i.k = mkOption { type = types.str; default = (x: y: z: x + y + z) "k" "-" "k"; };
  };
  # submodule elements: `name` per element, the rest shared
  sub = { lib, ... }: {
    options.users = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, config, ... }: {
        options.name = mkOption { type = types.str; default = name; };
        options.home = mkOption { type = types.str; default = "/home/${config.name}"; };
        options.shell = mkOption { type = types.str; default = "sh"; };
      }));
    };
  };
  eval = host: tag: (lib.evalModules {
    modules = [ base direct viaLet special inner sub ./shared-options/with-config.nix {
      inherit host;
      n = if host == "one" then 10 else 20;
      users.${host} = { };
      users.root.shell = "bash";
    } ];
    specialArgs = { inherit tag; };
  }).config;
in [ (eval "one" "t1") (eval "two" "t2") ]
