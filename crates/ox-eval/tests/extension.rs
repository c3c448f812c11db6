//! The extension point: crates built on the evaluator add builtins.

use ox_eval::{Eval, Settings, Value};

#[test]
fn add_builtin_is_visible_everywhere() {
    let mut ev = Eval::new(Settings::default());
    ev.add_builtin("oxTest", Value::Int(20));
    let v = ev
        .eval_string(
            "builtins.oxTest + __oxTest + builtins.builtins.oxTest + (if builtins ? oxTest then 1 else 0)",
            "«test»",
            "/",
        )
        .and_then(|v| ev.force(v))
        .unwrap();
    assert!(matches!(v, Value::Int(61)), "{:?}", v);
    // existing builtins are still there
    let v = ev
        .eval_string("builtins.length [ 1 2 ]", "«test»", "/")
        .and_then(|v| ev.force(v))
        .unwrap();
    assert!(matches!(v, Value::Int(2)));
}
