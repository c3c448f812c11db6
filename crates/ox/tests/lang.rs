//! Data-driven language tests: every case under `tests/lang/` (expected
//! output produced by C++ Nix, the oracle) and `tests/lang-new/`
//! (behaviour of builtins newer than Nix 2.8, from the Nix manual) is run
//! through `ox eval` and compared byte for byte.
//!
//! Cases ox does not pass yet are listed in `tests/lang/known-failures`;
//! listing a case that passes is an error too, so the list only shrinks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ox(dir: &Path, args: &[String]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ox"))
        .current_dir(dir)
        .env_remove("NIX_PATH")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run ox");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn flags_for(nix: &Path) -> Vec<String> {
    let f = nix.with_extension("flags");
    let text = std::fs::read_to_string(&f).unwrap_or_default();
    let mut args: Vec<String> = shell_words(&text);
    if let Some(i) = args.iter().position(|a| a == "--no-strict") {
        args.remove(i);
    } else {
        args.insert(0, "--strict".into());
    }
    args
}

/// Flags are split on whitespace only, as `regen.sh` passes them.
fn shell_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn cases(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    n.starts_with(prefix) && n.ends_with(".nix")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn known_failures() -> BTreeSet<String> {
    std::fs::read_to_string(repo().join("tests/lang/known-failures"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn name_of(p: &Path) -> String {
    let dir = p
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("");
    format!(
        "{}/{}",
        dir,
        p.file_stem().and_then(|n| n.to_str()).unwrap_or("")
    )
}

#[test]
fn language_cases() {
    let known = known_failures();
    let mut failures = Vec::new();
    let mut unexpectedly_passing = Vec::new();
    let mut passed = 0;
    let mut total = 0;
    for sub in ["tests/lang", "tests/lang-new"] {
        let dir = repo().join(sub);
        for nix in cases(&dir, "eval-okay-") {
            total += 1;
            let name = name_of(&nix);
            let exp = std::fs::read_to_string(nix.with_extension("exp")).unwrap_or_default();
            let mut args = vec!["eval".to_string()];
            args.extend(flags_for(&nix));
            args.push(nix.file_name().unwrap().to_string_lossy().into_owned());
            let (ok, out, err) = ox(&dir, &args);
            let good = ok && out == exp;
            if good {
                passed += 1;
            }
            match (good, known.contains(&name)) {
                (true, true) => unexpectedly_passing.push(name),
                (false, false) => failures.push(format!(
                    "{}\n  expected: {:?}\n  got:      {:?}\n  stderr:   {}",
                    name,
                    exp,
                    out,
                    err.lines()
                        .take(6)
                        .collect::<Vec<_>>()
                        .join("\n            ")
                )),
                _ => {}
            }
        }
        for prefix in ["eval-fail-", "parse-fail-"] {
            for nix in cases(&dir, prefix) {
                total += 1;
                let name = name_of(&nix);
                let mut args = vec!["eval".to_string()];
                args.extend(flags_for(&nix));
                args.push(nix.file_name().unwrap().to_string_lossy().into_owned());
                let (ok, out, err) = ox(&dir, &args);
                // snapshots must not depend on where the checkout lives
                let canon = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
                let err = err.replace(&*canon.to_string_lossy(), ".");
                // A failing case must fail cleanly: an error message, never
                // a panic; and it must render exactly as its `.err`
                // snapshot (OX_BLESS=1 rewrites the snapshots).
                let snap = nix.with_extension("err");
                let good = !ok && err.starts_with("error:") && !err.contains("panicked");
                if good {
                    if std::env::var_os("OX_BLESS").is_some() {
                        std::fs::write(&snap, &err).expect("write snapshot");
                    } else if let Ok(expected) = std::fs::read_to_string(&snap) {
                        if expected != err {
                            failures.push(format!(
                                "{}: diagnostic differs from {}:\n--- expected\n{}--- got\n{}",
                                name,
                                snap.display(),
                                expected,
                                err
                            ));
                            continue;
                        }
                    }
                }
                if good {
                    passed += 1;
                }
                match (good, known.contains(&name)) {
                    (true, true) => unexpectedly_passing.push(name),
                    (false, false) => failures.push(format!(
                        "{}: expected a clean error, got ok={} stdout={:?} stderr={:?}",
                        name,
                        ok,
                        out,
                        err.lines().take(6).collect::<Vec<_>>().join("\n")
                    )),
                    _ => {}
                }
            }
        }
    }
    println!(
        "language cases: {} of {} pass, {} listed as known failures",
        passed,
        total,
        known.len()
    );
    assert!(total > 0, "no language test cases found");
    assert!(
        failures.is_empty(),
        "{} language cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        unexpectedly_passing.is_empty(),
        "these cases pass now; remove them from tests/lang/known-failures: {:?}",
        unexpectedly_passing
    );
}

/// The oracle itself: where C++ Nix is installed, every committed `.exp`
/// under tests/lang must still be what it prints (the expectations are
/// Nix's answers, not ours).
#[test]
fn expectations_match_the_oracle() {
    let have_nix = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok();
    if !have_nix {
        assert!(std::env::var_os("CI").is_none(), "CI must install nix-bin");
        eprintln!("skipping: nix-instantiate not installed");
        return;
    }
    let dir = repo().join("tests/lang");
    let mut mismatches = Vec::new();
    for nix in cases(&dir, "eval-okay-") {
        let mut args = vec!["--eval".to_string()];
        args.extend(flags_for(&nix));
        args.push(nix.file_name().unwrap().to_string_lossy().into_owned());
        let out = Command::new("nix-instantiate")
            .current_dir(&dir)
            .env_remove("NIX_PATH")
            .args(&args)
            .output()
            .expect("run nix-instantiate");
        // bytes, not text: some expectations are not valid UTF-8
        let exp = std::fs::read(nix.with_extension("exp")).unwrap_or_default();
        if out.stdout != exp {
            mismatches.push(name_of(&nix));
        }
    }
    assert!(
        mismatches.is_empty(),
        "oracle disagrees with: {:?}",
        mismatches
    );
}
