//! Which parts of a module function's `options` are evaluated once and
//! shared between calls (`ox_modules::share`): a table of module
//! functions and the plan expected for each. (That the values stay right
//! when a module reads its call is `tests/modules/shared-options.nix`.)

use ox_eval::Value;
use ox_modules::share::{analyze, Plan};

mod common;
use common::evaluator;

fn plan(src: &str) -> Plan {
    let mut ev = evaluator();
    let v = ev
        .eval_string(
            &format!("let lib = import <ox/lib>; in {}", src),
            "«test»",
            "/",
        )
        .unwrap();
    let v = ev.force(v).unwrap();
    let Value::Lambda(c) = v else {
        panic!("not a function: {}", src)
    };
    analyze(c.def)
}

fn set(parts: Vec<(&'static str, Plan)>) -> Plan {
    Plan::Set(parts)
}

#[test]
fn plans() {
    use Plan::{Fresh, Shared};
    let cases: Vec<(&str, Plan)> = vec![
        // only `lib` and what the function closes over
        (
            "{ lib, ... }: { options.a = lib.mkOption { default = 1; }; }",
            Shared,
        ),
        (
            "{ config, lib, ... }: let cfg = config.a; t = lib.types; in { options.a = lib.mkOption { type = t.int; }; config = { }; }",
            Shared,
        ),
        ("{ ... }: { options.a = lib.mkOption { }; }", Shared),
        (
            "{ lib, ... }: with lib; { options.a = mkOption { type = types.int; }; }",
            Shared,
        ),
        // a function in the options reading only its own argument
        (
            "{ lib, ... }: { options.a = lib.mkOption { type = lib.types.submodule ({ name, ... }: { options.n = lib.mkOption { default = name; }; }); }; }",
            Shared,
        ),
        // curried functions (one frame for the chain)
        (
            "{ lib, ... }: { options.a = lib.mkOption { default = (x: y: z: x + y + z) 1 2 3; }; }",
            Shared,
        ),
        (
            "{ config, lib, ... }: { options.a = lib.mkOption { default = (x: y: config.b) 1 2; }; }",
            Fresh,
        ),
        (
            "{ config, lib, ... }: { options.a = lib.mkOption { default = (x: { y }: z: config.b) 1 { y = 2; } 3; }; }",
            Fresh,
        ),
        // reading the call: per call, per attribute where possible
        (
            "{ config, lib, ... }: { options.a = lib.mkOption { default = config.b; }; options.b = lib.mkOption { }; }",
            set(vec![("a", Fresh), ("b", Shared)]),
        ),
        (
            "{ name, lib, ... }: { options = { x = lib.mkOption { default = name; }; y.z = lib.mkOption { }; }; }",
            set(vec![("x", Fresh), ("y", Shared)]),
        ),
        (
            "{ config, lib, ... }: let cfg = config; in { options.a = lib.mkOption { default = cfg; }; }",
            Fresh,
        ),
        (
            "{ config, lib, ... }: let inherit (config) a; in { options.a = lib.mkOption { default = a; }; }",
            Fresh,
        ),
        (
            "{ config, lib, ... }: with config; { options.a = lib.mkOption { default = x; }; }",
            Fresh,
        ),
        (
            "args@{ lib, ... }: { options.a = lib.mkOption { default = args; }; }",
            Fresh,
        ),
        (
            "{ lib, host, ... }: { options.a = lib.mkOption { default = host; }; }",
            Fresh,
        ),
        // bindings that refer to each other: per call
        (
            "{ lib, ... }: let a = b; b = a; in { options.a = lib.mkOption { default = a; }; }",
            Fresh,
        ),
        // not understood: per call
        ("args: { options.a = args.lib.mkOption { }; }", Fresh),
        (
            "{ lib, ... }: rec { options.a = lib.mkOption { }; }",
            Fresh,
        ),
        ("{ lib, ... }: { config.a = 1; }", Fresh),
    ];
    for (src, want) in cases {
        assert_eq!(plan(src), want, "{}", src);
    }
}
