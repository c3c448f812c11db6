# Declaration indexes and merged option declarations are cached by the
# addresses of stable (shared) option sets (crates/ox-modules/src/
# modules.rs, `decl_index_for`/`kind_cached`). Several evaluations of the
# same modules, each with its own definitions, must give their own
# values; declarations that differ per call (a default reading `name` or
# `config`), an option merged from two modules, sub-options declared next
# to a submodule option, and `options.<path>` metadata must stay right.
let
  lib = import <ox/lib>;
  inherit (lib) mkOption types;
  shared = { lib, ... }: {
    _file = "shared.nix";
    options.a.port = mkOption { type = types.port; default = 80; };
    options.a.tags = mkOption { type = types.listOf types.str; default = [ ]; };
    options.a.sub = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options.enable = mkOption { type = types.bool; default = true; };
        options.label = mkOption { type = types.str; default = "<${name}>"; };
        options.nested.x = mkOption { type = types.int; default = 1; };
      }));
    };
  };
  # the same option declared again (a second declaration of `a.tags`)
  more = { lib, ... }: {
    _file = "more.nix";
    options.a.tags = mkOption { type = types.listOf types.str; };
    options.b = mkOption { type = types.submodule { options.p = mkOption { type = types.int; default = 0; }; }; default = { }; };
  };
  # sub-options next to the submodule option `b`
  next = { lib, ... }: {
    _file = "next.nix";
    options.b.q = mkOption { type = types.int; default = 5; };
  };
  perCall = { config, lib, ... }: {
    options.c = mkOption { type = types.int; default = config.a.port + 1; };
  };
  host = i: { ... }: {
    a.port = 1000 + i;
    a.tags = [ "t${toString i}" ];
    a.sub = if i == 1 then { } else { "s${toString i}" = { enable = i != 3; nested.x = i; }; other.label = "o"; };
    b.q = i;
    b.p = 10 * i;
  };
  eval = i: lib.evalModules { modules = [ shared more next perCall (host i) ]; };
  show = i: let r = eval i; in {
    inherit (r) config;
    decls = map baseNameOf r.options.a.tags.declarations;
    isDefined = r.options.a.sub.isDefined;
    bLoc = r.options.b.loc;
    bFiles = map baseNameOf r.options.b.files;
  };
in map show [ 1 2 3 2 ]
