//! The command line itself: help, completions, and `ox eval` options that
//! the language corpus does not exercise.

use std::path::Path;

use ox_testhost::testsupport::{outcome, ox_command};

fn ox(args: &[&str]) -> (bool, String, String) {
    outcome(ox_command(Path::new(env!("CARGO_BIN_EXE_ox"))).args(args))
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let (ok, out, err) = ox(&["completions", shell]);
        assert!(ok, "{}", err);
        for sub in ["eval", "repl", "completions"] {
            assert!(out.contains(sub), "{} completion lacks {}", shell, sub);
        }
    }
}

#[test]
fn eval_selects_attribute_paths_and_list_indices() {
    let (ok, out, err) = ox(&[
        "eval",
        "-E",
        "{ a.b = [ 10 { c = 3; } ]; }",
        "-A",
        "a.b.1.c",
    ]);
    assert!(ok, "{}", err);
    assert_eq!(out, "3\n");
    let (ok, _, err) = ox(&["eval", "-E", "{ a = 1; }", "-A", "b"]);
    assert!(!ok);
    assert!(
        err.contains("attribute 'b' in selection path 'b' not found"),
        "{}",
        err
    );
}

#[test]
fn eval_passes_arguments_to_functions() {
    let (ok, out, err) = ox(&[
        "eval",
        "--strict",
        "-E",
        "{ n, s ? \"d\" }: [ (n * 2) s ]",
        "--arg",
        "n",
        "21",
        "--argstr",
        "s",
        "x",
    ]);
    assert!(ok, "{}", err);
    assert_eq!(out, "[ 42 \"x\" ]\n");
}

#[test]
fn getenv_is_pure_unless_impure() {
    let (_, pure, _) = ox(&["eval", "-E", "builtins.getEnv \"HOME\""]);
    assert_eq!(pure, "\"\"\n");
    let (_, impure, _) = ox(&["eval", "--impure", "-E", "builtins.getEnv \"HOME\""]);
    assert_ne!(impure, "\"\"\n");
}

#[test]
fn errors_name_the_location_and_what_was_expected() {
    let (ok, _, err) = ox(&["eval", "-E", "let x = { a = 1; }; in x.a + \"s\""]);
    assert!(!ok);
    assert!(
        err.starts_with("error: cannot add a string to an integer"),
        "{}",
        err
    );
    assert!(err.contains("«string»:1:28"), "{}", err);
}
