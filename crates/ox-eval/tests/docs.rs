//! docs/builtins.md must list every builtin ox has (and nothing else).

use ox_eval::{Eval, Settings, Value};

#[test]
fn builtins_doc_lists_every_builtin() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/builtins.md"
    ))
    .expect("docs/builtins.md exists");
    let documented: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    let mut ev = Eval::new(Settings::default());
    let v = ev
        .eval_string("builtins.attrNames builtins", "«t»", "/")
        .unwrap();
    let Value::List(l) = v else {
        panic!("not a list")
    };
    let mut have = std::collections::BTreeSet::new();
    for x in l.iter() {
        if let Value::Str(s) = ev.force(x.clone()).unwrap() {
            have.insert(s.s.clone());
        }
    }
    let missing: Vec<_> = have.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&have).collect();
    assert!(missing.is_empty(), "undocumented builtins: {:?}", missing);
    assert!(extra.is_empty(), "documented but absent: {:?}", extra);
}
