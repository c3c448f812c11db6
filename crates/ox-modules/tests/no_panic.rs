//! Every type's `check` and `merge`, called from Nix with values of every
//! kind, returns a value or an error: never a panic.

mod common;
use common::evaluator;

const TYPES: &[&str] = &[
    "bool",
    "boolByOr",
    "int",
    "ints.u8",
    "ints.positive",
    "port",
    "float",
    "number",
    "str",
    "nonEmptyStr",
    "singleLineStr",
    "lines",
    "commas",
    "envVar",
    "path",
    "package",
    "attrs",
    "anything",
    "raw",
    "unspecified",
    "optionType",
    "deferredModule",
    "listOf int",
    "nonEmptyListOf int",
    "attrsOf int",
    "lazyAttrsOf int",
    "attrsWith { elemType = int; }",
    "nullOr int",
    "either int str",
    "oneOf [ bool int ]",
    "coercedTo int toString str",
    "uniq int",
    "unique { message = \"m\"; } int",
    "functionTo int",
    "enum [ \"a\" 1 ]",
    "strMatching \"a+\"",
    "separatedString \"|\"",
    "submodule { }",
    "submodule { options.x = lib.mkOption { type = int; }; }",
    "addCheck int (x: x > 0)",
    "ints.between 1 3",
    "numbers.between 0 1.5",
];

const VALUES: &[&str] = &[
    "null",
    "true",
    "0",
    "7",
    "1.5",
    "\"\"",
    "\"a\\nb\"",
    "/etc",
    "[ ]",
    "[ 1 \"x\" ]",
    "{ }",
    "{ x = 1; }",
    "(x: x)",
    "{ _type = \"if\"; condition = false; content = 1; }",
    "(lib.mkMerge [ 1 2 ])",
    "{ type = \"derivation\"; name = \"d\"; outPath = \"/nix/store/x\"; }",
];

#[test]
fn checks_and_merges_never_panic() {
    let mut ev = evaluator();
    let mut ran = 0;
    for t in TYPES {
        for v in VALUES {
            for e in [
                format!("let lib = import <ox/lib>; in with lib.types; ({}).check {}", t, v),
                format!(
                    "let lib = import <ox/lib>; in with lib.types; ({}).merge [ \"o\" ] [ {{ file = \"f\"; value = {}; }} {{ file = \"g\"; value = {}; }} ]",
                    t, v, v
                ),
                format!(
                    "let lib = import <ox/lib>; in (lib.evalModules {{ modules = [ {{ options.o = lib.mkOption {{ type = with lib.types; {}; }}; }} {{ o = {}; }} ]; }}).config.o",
                    t, v
                ),
            ] {
                let r = ev.eval_string(&e, "«test»", "/").and_then(|x| ev.force_deep(x));
                if let Err(err) = &r {
                    assert!(!err.msg.is_empty(), "{}: empty error", e);
                }
                ran += 1;
            }
        }
    }
    assert_eq!(ran, TYPES.len() * VALUES.len() * 3);
}
