//! Data-driven flake cases from `tests/flakes/*/` (see its README): each
//! case is built in a temporary directory by its `setup.sh`, locked by
//! ox, and compared with the expected lock file, the expected outputs,
//! and (where marked) with C++ Nix 2.8's own `nix flake lock`.
//!
//! `OX_BLESS=1` rewrites `expected.lock` files from ox's output (review
//! the diff: oracle cases are still checked against Nix).

use std::path::{Path, PathBuf};
use std::process::Command;

use ox_flake::{LockMode, Session, Settings};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A per-case work directory, removed on drop (store files are
/// read-only). Its path is fixed — fixtures write it into nested
/// flake.nix files, so it is part of their narHash — and an flock on a
/// sibling file keeps concurrent test runs from sharing it.
struct TempDir(PathBuf, #[allow(dead_code)] std::fs::File);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ox-flake-fixture-{}", tag));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(p.with_extension("lock"))
            .expect("open fixture lock");
        // SAFETY: flock on a file descriptor we own.
        let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(r, 0, "flock");
        if p.exists() {
            let _ = Command::new("chmod").arg("-R").arg("u+w").arg(&p).status();
            let _ = std::fs::remove_dir_all(&p);
        }
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p, lock)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git_env(cmd: &mut Command) {
    cmd.env("GIT_AUTHOR_NAME", "ox test")
        .env("GIT_AUTHOR_EMAIL", "test@ox.invalid")
        .env("GIT_COMMITTER_NAME", "ox test")
        .env("GIT_COMMITTER_EMAIL", "test@ox.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
}

fn setup(case: &Path, work: &Path) {
    let mut cmd = Command::new("bash");
    cmd.arg("-euo")
        .arg("pipefail")
        .arg(case.join("setup.sh"))
        .current_dir(work)
        .env("WORK", work);
    git_env(&mut cmd);
    let out = cmd.output().expect("run setup.sh");
    assert!(
        out.status.success(),
        "{}: setup.sh failed: {}",
        case.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn settings(work: &Path) -> Settings {
    let mut s = Settings::from_env(None);
    s.store_dir = work.join("store");
    let ox = work.join("oxnix");
    s.fetch.ox_nix_dir = ox.is_dir().then_some(ox);
    // A closed loopback port: github inputs fail exactly as offline.
    s.fetch.github_api = "http://127.0.0.1:9".into();
    s.fetch.github_base = "http://127.0.0.1:9".into();
    s
}

fn have_nix() -> bool {
    let ok = Command::new("nix")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("C++ Nix (nix) is required under CI for the flake oracle");
        }
        eprintln!("SKIP: C++ Nix not found; flake oracle not run");
    }
    ok
}

/// Run `nix ARGS` in `dir` with every Nix directory inside `work`.
fn nix_cmd(work: &Path, dir: &Path, args: &[&str]) -> std::process::Output {
    let n = work.join("nix");
    let mut cmd = Command::new("nix");
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", n.join("home"))
        .env("XDG_CACHE_HOME", n.join("cache"))
        .env("XDG_CONFIG_HOME", n.join("config"))
        .env("XDG_DATA_HOME", n.join("data"))
        .env("NIX_CONF_DIR", n.join("etc"))
        .env("NIX_STORE_DIR", n.join("store"))
        .env("NIX_STATE_DIR", n.join("state"))
        .env("NIX_LOG_DIR", n.join("log"));
    git_env(&mut cmd);
    cmd.output().expect("run nix")
}

/// `nix flake lock` of `dir` with every Nix directory inside `work`.
fn nix_lock(work: &Path, dir: &Path) -> String {
    let n = work.join("nix");
    for d in [
        "home", "etc", "cache", "config", "data", "state", "log", "store",
    ] {
        std::fs::create_dir_all(n.join(d)).unwrap();
    }
    std::fs::write(n.join("registry.json"), r#"{"flakes":[],"version":2}"#).unwrap();
    std::fs::write(
        n.join("etc/nix.conf"),
        format!(
            "experimental-features = nix-command flakes\nbuild-users-group =\nsubstituters =\nflake-registry = {}\n",
            n.join("registry.json").display()
        ),
    )
    .unwrap();
    let lock = dir.join("flake.lock");
    let saved = std::fs::read(&lock).ok();
    let _ = std::fs::remove_file(&lock);
    let out = nix_cmd(work, dir, &["flake", "lock"]);
    assert!(
        out.status.success(),
        "nix flake lock failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&lock).expect("nix wrote flake.lock");
    match saved {
        Some(s) => std::fs::write(&lock, s).unwrap(),
        None => std::fs::remove_file(&lock).unwrap(),
    }
    text
}

/// `narHash` (SRI) of a path input must equal `nix-hash --type sha256`.
fn check_nar_hashes(lock_text: &str, case: &str) {
    let lock = ox_flake::LockFile::parse(lock_text, "flake.lock").unwrap();
    for (key, n) in &lock.nodes {
        let Some(l) = &n.locked else { continue };
        if l.kind() != "path" || !l.str("path").unwrap_or("").starts_with('/') {
            continue;
        }
        let out = Command::new("nix-hash")
            .args(["--type", "sha256"])
            .arg(l.str("path").unwrap())
            .output()
            .expect("run nix-hash");
        let hex = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let ours = ox_store::Hash::parse(l.str("narHash").unwrap(), None).unwrap();
        assert_eq!(ours.to_base16(), hex, "{}: narHash of node '{}'", case, key);
    }
}

fn run_case(case: &Path, oracle: bool) {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let tmp = TempDir::new(&name);
    let work = &tmp.0;
    setup(case, work);
    let root = work.join("root");
    let w = work.display().to_string();
    let mut session = Session::new(settings(work)).expect("session");
    let r = ox_flake::lock_flake(&mut session, &root, &[], false, LockMode::Write);
    if let Ok(expected) = std::fs::read_to_string(case.join("expected.err")) {
        let e = match r {
            Ok(_) => panic!("{}: locking succeeded but an error was expected", name),
            Err(e) => e.to_string(),
        };
        for line in expected.lines().filter(|l| !l.is_empty()) {
            let line = line.replace("@WORK@", &w);
            assert!(
                e.contains(&line),
                "{}: error lacks {:?}:\n{}",
                name,
                line,
                e
            );
        }
        return;
    }
    let flake = r.unwrap_or_else(|e| panic!("{}: {}", name, e));
    let got = std::fs::read_to_string(root.join("flake.lock")).expect("flake.lock written");
    let expected_file = case.join("expected.lock");
    if std::env::var_os("OX_BLESS").is_some() {
        std::fs::write(&expected_file, got.replace(&w, "@WORK@")).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_file)
        .unwrap_or_else(|_| panic!("{}: no expected.lock (OX_BLESS=1 creates it)", name))
        .replace("@WORK@", &w);
    assert_eq!(
        got, expected,
        "{}: flake.lock differs from expected.lock",
        name
    );

    // Locking again changes nothing.
    let again = ox_flake::lock_flake(&mut session, &root, &[], false, LockMode::Check)
        .unwrap_or_else(|e| panic!("{}: relock: {}", name, e));
    assert!(
        !again.lock_changed(),
        "{}: relocking changed the lock",
        name
    );

    if oracle && case.join("oracle").exists() {
        let theirs = nix_lock(work, &root);
        assert_eq!(
            got, theirs,
            "{}: ox and C++ Nix wrote different lock files",
            name
        );
        check_nar_hashes(&got, &name);
    }

    if let Ok(evals) = std::fs::read_to_string(case.join("eval")) {
        let v = ox_flake::flake_value(&mut session, &flake)
            .unwrap_or_else(|e| panic!("{}: {}", name, e));
        for line in evals.lines().filter(|l| !l.is_empty()) {
            let (attr, want) = line.split_once('\t').expect("ATTR<TAB>VALUE");
            let path: Vec<&str> = attr.split('.').collect();
            let r = ox_flake::select(&mut session, v.clone(), &path).and_then(|x| {
                session.ev.force_deep(x).map_err(|e| ox_flake::Error::Eval {
                    context: attr.to_string(),
                    message: ox_eval::render(&e, false),
                })
            });
            match (r, want.strip_prefix('!')) {
                (Ok(x), None) => {
                    assert_eq!(ox_eval::print::print_value(&x), want, "{}: {}", name, attr)
                }
                (Err(e), Some(msg)) => {
                    let e = e.to_string();
                    assert!(
                        e.contains(msg),
                        "{}: {}: error lacks {:?}:\n{}",
                        name,
                        attr,
                        msg,
                        e
                    )
                }
                (Ok(x), Some(_)) => panic!(
                    "{}: {} evaluated to {} but should fail",
                    name,
                    attr,
                    ox_eval::print::print_value(&x)
                ),
                (Err(e), None) => panic!("{}: {}: {}", name, attr, e),
            }
        }
    }
}

#[test]
fn flake_fixtures() {
    let dir = repo_root().join("tests/flakes");
    let oracle = have_nix();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/flakes")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("setup.sh").exists())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the flake fixtures in {}",
        dir.display()
    );
    for c in &cases {
        run_case(c, oracle);
    }
}
