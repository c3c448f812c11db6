//! Source whose syntax tree is very deep without the parser recursing:
//! left-associative chains nest one tree level per term. Parsing,
//! compiling, evaluating and freeing such a tree must not overflow the
//! native stack, and errors on its (single, huge) line stay readable.

use ox_eval::{Eval, Settings, Value};

fn chain(n: usize, last: &str) -> String {
    let mut s = "1".to_string();
    for _ in 1..n {
        s.push_str(" + 1");
    }
    s.push_str(last);
    s
}

#[test]
fn a_200000_term_chain_evaluates() {
    // rowan frees the tree recursively: this aborted the process
    // ("has overflowed its stack") before the tree was freed on a grown
    // stack.
    let mut ev = Eval::new(Settings::default());
    let v = ev
        .eval_string(&chain(200_000, ""), "«chain»", "/")
        .and_then(|v| ev.force(v))
        .unwrap();
    assert!(matches!(v, Value::Int(200_000)), "{:?}", v);
}

#[test]
fn an_error_on_a_huge_line_shows_a_window_of_it() {
    let mut ev = Eval::new(Settings::default());
    let src = chain(50_000, " + \"x\" + 1 + 1");
    let e = ev
        .eval_string(&src, "«chain»", "/")
        .and_then(|v| ev.force(v))
        .unwrap_err();
    let text = ox_eval::render(&e, false);
    assert!(text.contains("cannot add a string to an integer"), "{text}");
    let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(
        longest < 300,
        "a snippet line of {longest} characters:\n{text}"
    );
    // the caret still points at the `+` before the string
    let lines: Vec<&str> = text.lines().collect();
    let caret = lines.iter().position(|l| l.contains('^')).unwrap();
    let col = lines[caret].chars().position(|c| c == '^').unwrap();
    let shown: Vec<char> = lines[caret - 1].chars().collect();
    assert_eq!(shown[col], '+', "{text}");
    assert!(
        shown[col..]
            .iter()
            .collect::<String>()
            .starts_with("+ \"x\""),
        "{text}"
    );
}
