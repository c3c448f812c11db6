//! Module evaluations do not own themselves (docs/modules.md, "Memory"):
//! the module arguments reach their evaluation weakly. A thunk that reads
//! `config` after everything else of its evaluation was dropped still
//! gets the right value, from a new evaluation of the same arguments;
//! while the caller keeps the `config` set, none is needed.

use std::path::Path;

use ox_eval::{Eval, Settings, Value};

fn evaluator() -> Eval {
    let nix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nix");
    let mut ev = Eval::new(Settings {
        search_path: vec![("ox".into(), nix.to_string_lossy().into_owned())],
        ..Settings::default()
    });
    ox_modules::install(&mut ev);
    ev
}

/// `b`'s default is a set whose `x` reads `config.a` lazily; `a`'s default
/// is lost to a definition and reads `name`-like module arguments, so an
/// evaluation that owned itself would never be freed.
const MODULES: &str = r#"
  lib = import <ox/lib>;
  r = lib.evalModules { modules = [
    ({ config, extra, ... }: {
      options.a = lib.mkOption { type = lib.types.int; default = extra; };
      options.b = lib.mkOption { type = lib.types.attrs; default = { x = config.a + 1; }; };
      options.c = lib.mkOption { type = lib.types.int; default = 0; };
      config.a = 41;
      config._module.args.extra = 7;
    })
  ]; };
"#;

fn eval_int(src: &str) -> (i64, usize) {
    let mut ev = evaluator();
    let before = ox_modules::modules::rebuilds();
    let v = ev.eval_string(src, "«test»", "/").unwrap();
    let v = ev.force_deep(v).unwrap();
    let Value::Int(i) = v else {
        panic!("expected an int, got {}", v.type_name())
    };
    (i, ox_modules::modules::rebuilds() - before)
}

#[test]
fn escaped_thunk_after_the_evaluation_is_gone() {
    // Only `b`'s value survives the selection: forcing `x` needs `config`
    // of an evaluation nothing owns any more.
    let (v, _) = eval_int(&format!("let {MODULES} in (r.config.b).x"));
    assert_eq!(v, 42);
}

#[test]
fn kept_config_needs_no_rebuild() {
    let (v, rebuilt) = eval_int(&format!(
        "let {MODULES} c = r.config; in c.b.x + c.c + c.a - 41"
    ));
    assert_eq!(v, 42);
    assert_eq!(rebuilt, 0);
}

#[test]
fn rebuild_gives_the_same_value() {
    // `f` escapes as a function value: nothing of the evaluation is left
    // when it is called.
    let src = r#"
      let
        lib = import <ox/lib>;
        f = (lib.evalModules { modules = [
          ({ config, ... }: {
            options.n = lib.mkOption { type = lib.types.int; default = 5; };
            options.f = lib.mkOption { type = lib.types.raw; default = k: k * config.n; };
          })
        ]; }).config.f;
      in f 3
    "#;
    let (v, rebuilt) = eval_int(src);
    assert_eq!(v, 15);
    assert_eq!(
        rebuilt, 1,
        "the evaluation was dropped before `f` was called"
    );
}
