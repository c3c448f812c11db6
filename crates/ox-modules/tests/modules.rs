//! Data-driven module-system tests: every `tests/modules/*.nix` evaluates
//! (deeply) to a value that must equal `NAME.json`, or fails with the
//! error message in `NAME.err` (the test directory shows as `<dir>`);
//! where `NAME.trace` exists, the traces and warnings printed must equal it.
//! `OX_BLESS=1` writes the expected files from the current results.

use std::path::{Path, PathBuf};

mod common;
use common::{evaluator, repo};

/// The case's result and the traces (warnings) it printed.
fn run_case(path: &Path) -> (Result<String, String>, String) {
    let mut ev = evaluator();
    let traces = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    let sink = traces.clone();
    ev.trace_hook = Some(Box::new(move |m: &str| {
        let mut t = sink.borrow_mut();
        t.push_str(m);
        t.push('\n');
    }));
    let span = ox_eval::error::Span {
        file: ox_eval::error::FileId(u32::MAX),
        start: 0,
        end: 0,
    };
    let r = ev
        .eval_file(path)
        .and_then(|v| ev.force_deep(v))
        .and_then(|v| ox_eval::print::to_json(&mut ev, v, false, span));
    let r = r.map_err(|e| e.msg.clone());
    drop(ev);
    let t = traces.borrow().clone();
    (r, t)
}

#[test]
fn module_cases() {
    let dir = repo().join("tests/modules");
    let dir_s = dir.to_string_lossy().into_owned();
    let bless = std::env::var_os("OX_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    cases.sort();
    assert!(cases.len() > 10, "module test cases missing");
    let mut failures = Vec::new();
    for c in &cases {
        let json = c.with_extension("json");
        let err = c.with_extension("err");
        let trace = c.with_extension("trace");
        let (got, traces) = run_case(c);
        let traces = traces.replace(&dir_s, "<dir>");
        let name = c.file_name().unwrap().to_string_lossy().into_owned();
        if bless {
            let _ = std::fs::remove_file(&json);
            let _ = std::fs::remove_file(&err);
            let _ = std::fs::remove_file(&trace);
            if !traces.is_empty() {
                std::fs::write(&trace, &traces).unwrap();
            }
            match &got {
                Ok(j) => {
                    let v: serde_json::Value = serde_json::from_str(j).unwrap();
                    std::fs::write(&json, serde_json::to_string_pretty(&v).unwrap() + "\n")
                        .unwrap();
                }
                Err(m) => std::fs::write(&err, m.replace(&dir_s, "<dir>") + "\n").unwrap(),
            }
            continue;
        }
        // Traces are compared where a case expects them (NAME.trace).
        if trace.exists() {
            let want = std::fs::read_to_string(&trace).unwrap();
            if want != traces {
                failures.push(format!(
                    "{}: expected traces\n{}\n  got traces\n{}",
                    name, want, traces
                ));
            }
        }
        match (got, json.exists(), err.exists()) {
            (Ok(j), true, _) => {
                let want: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
                let got: serde_json::Value = serde_json::from_str(&j).unwrap();
                if want != got {
                    failures.push(format!("{}: expected {}\n  got {}", name, want, got));
                }
            }
            (Err(m), _, true) => {
                let want = std::fs::read_to_string(&err).unwrap();
                let m = m.replace(&dir_s, "<dir>");
                if want.trim_end() != m.trim_end() {
                    failures.push(format!(
                        "{}: expected error\n{}\n  got error\n{}",
                        name, want, m
                    ));
                }
            }
            (Ok(j), false, _) => failures.push(format!("{}: expected an error, got {}", name, j)),
            (Err(m), _, false) => failures.push(format!("{}: unexpected error: {}", name, m)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
