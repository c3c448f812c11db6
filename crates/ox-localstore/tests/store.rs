//! The store API on its own: adding paths and texts, validity and
//! references, roots and garbage collection, corruption, and leftovers of
//! interrupted registrations. Each test uses a fresh store root.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ox_localstore::{Store, StoreConfig, StoreError};
use ox_testhost::testsupport::Scratch;

fn tmp(tag: &str) -> Scratch {
    Scratch::new(&format!("localstore-test-{tag}"))
}

fn store(t: &Scratch) -> Store {
    Store::open(StoreConfig::with_root(&t.join("root"), "/ox/store")).unwrap()
}

fn sample_tree(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("a.txt"), "a\n").unwrap();
    fs::write(src.join("sub/run"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(src.join("sub/run"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("../a.txt", src.join("sub/link")).unwrap();
    src
}

#[test]
fn added_paths_are_valid_read_only_and_normalised() {
    let t = tmp("add");
    let s = store(&t);
    let src = sample_tree(t.path());
    let p = s.add_path(&src, Some("tree")).unwrap();
    assert!(s.is_valid(&p).unwrap());
    let real = s.real_path(&p);
    for (rel, mode) in [
        ("", 0o555),
        ("a.txt", 0o444),
        ("sub", 0o555),
        ("sub/run", 0o555),
    ] {
        let md = fs::symlink_metadata(real.join(rel)).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, mode, "{rel}");
        assert_eq!(md.mtime(), 1, "{rel}");
    }
    assert_eq!(
        fs::read_link(real.join("sub/link")).unwrap(),
        PathBuf::from("../a.txt")
    );
    let info = s.path_info(&p).unwrap().unwrap();
    assert!(info.references.is_empty());
    assert_eq!(info.nar_hash, s.recompute_nar(&p).unwrap().hash);
    // Adding again is a no-op with the same path.
    assert_eq!(s.add_path(&src, Some("tree")).unwrap(), p);

    // C++ Nix computes the same path for the same tree.
    if Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok()
    {
        let state = t.join("nix-state");
        let o = Command::new("nix-instantiate")
            .args(["--readonly-mode", "--eval", "-E"])
            .arg(format!(
                "builtins.path {{ path = {}; name = \"tree\"; }}",
                src.display()
            ))
            .env("NIX_STORE_DIR", "/ox/store")
            .env("NIX_STATE_DIR", &state)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim().trim_matches('"'),
            s.print(&p)
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nix-instantiate needed under CI"
        );
    }
}

#[test]
fn texts_with_references_and_closures() {
    let t = tmp("text");
    let s = store(&t);
    let a = s.add_text("a", b"A", &BTreeSet::new()).unwrap();
    let b = s
        .add_text(
            "b",
            format!("uses {}", s.print(&a)).as_bytes(),
            &BTreeSet::from([a.clone()]),
        )
        .unwrap();
    let c = s
        .add_text("c", b"just c", &BTreeSet::from([b.clone()]))
        .unwrap();
    assert_eq!(s.references(&c).unwrap(), BTreeSet::from([b.clone()]));
    assert_eq!(
        s.closure(std::slice::from_ref(&c)).unwrap(),
        BTreeSet::from([a.clone(), b.clone(), c.clone()])
    );
    assert_eq!(fs::read(s.real_path(&a)).unwrap(), b"A");
}

#[test]
fn registration_needs_valid_references() {
    let t = tmp("refs");
    let s = store(&t);
    // A reference that is a well-formed path but not in the store.
    let ghost = s
        .parse("/ox/store/00000000000000000000000000000000-ghost")
        .unwrap();
    let e = s.add_text("x", b"x", &BTreeSet::from([ghost])).unwrap_err();
    assert!(matches!(e, StoreError::MissingReference { .. }), "{e}");
    let p = s
        .dir
        .text_path_for(
            "x",
            b"x",
            &BTreeSet::from([s
                .parse("/ox/store/00000000000000000000000000000000-ghost")
                .unwrap()]),
        )
        .unwrap();
    assert!(!s.is_valid(&p).unwrap());
}

#[test]
fn leftover_at_the_final_name_is_not_valid_and_gets_replaced() {
    let t = tmp("leftover");
    let s = store(&t);
    let want = s.dir.text_path_for("f", b"full", &BTreeSet::new()).unwrap();
    // What a crash between rename and registration leaves behind.
    fs::write(s.real_path(&want), b"par").unwrap();
    assert!(!s.is_valid(&want).unwrap());
    // gc reports it and leaves it alone.
    let r = s.gc(false).unwrap();
    assert_eq!(r.unregistered, vec![s.print(&want)]);
    assert!(s.real_path(&want).exists());
    let p = s.add_text("f", b"full", &BTreeSet::new()).unwrap();
    assert_eq!(p, want);
    assert_eq!(fs::read(s.real_path(&p)).unwrap(), b"full");
    assert!(s.verify().unwrap().is_empty());
}

#[test]
fn gc_named_roots_and_verify() {
    let t = tmp("gc");
    let s = store(&t);
    let a = s.add_text("a", b"A", &BTreeSet::new()).unwrap();
    let b = s.add_text("b", b"B", &BTreeSet::from([a.clone()])).unwrap();
    let loose = s.add_text("loose", b"L", &BTreeSet::new()).unwrap();
    s.add_root("keep-b", &b).unwrap();
    let r = s.gc(true).unwrap();
    assert_eq!(r.deleted, vec![s.print(&loose)]);
    assert!(s.is_valid(&loose).unwrap(), "dry run deleted");
    let r = s.gc(false).unwrap();
    assert_eq!(r.deleted, vec![s.print(&loose)]);
    assert!(!s.is_valid(&loose).unwrap());
    assert!(!s.real_path(&loose).exists());
    assert!(s.is_valid(&a).unwrap() && s.is_valid(&b).unwrap());

    // Corrupt b and verify notices.
    let f = s.real_path(&b);
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&f, b"X").unwrap();
    let bad = s.verify().unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].path, s.print(&b));

    assert!(s.remove_root("keep-b").unwrap());
    let r = s.gc(false).unwrap();
    assert_eq!(r.deleted.len(), 2);
    assert!(s.all_valid().unwrap().is_empty());
}

#[test]
fn gc_keeps_what_activation_made_live() {
    let t = tmp("gc-active");
    let s = store(&t);
    let root = t.join("root");
    // three systems that only activation's links refer to (`ox test`
    // outside the profile, the booted one, the one /etc flips through)
    let mut kept = Vec::new();
    for (name, link, sub) in [
        ("current", "run/ox/current-system", ""),
        ("booted", "run/ox/booted-system", ""),
        ("static", "etc/ox-static", "/etc"),
    ] {
        let dep = s
            .add_text(&format!("{name}-dep"), b"D", &BTreeSet::new())
            .unwrap();
        let sys = s
            .add_text(name, name.as_bytes(), &BTreeSet::from([dep.clone()]))
            .unwrap();
        let l = root.join(link);
        fs::create_dir_all(l.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(format!("{}{sub}", s.print(&sys)), &l).unwrap();
        kept.push(sys);
        kept.push(dep);
    }
    let loose = s.add_text("loose", b"L", &BTreeSet::new()).unwrap();
    let roots = s.roots().unwrap();
    assert_eq!(roots.len(), 3, "{roots:?}");
    let r = s.gc(false).unwrap();
    assert_eq!(r.deleted, vec![s.print(&loose)]);
    for p in &kept {
        assert!(s.is_valid(p).unwrap(), "{} was collected", s.print(p));
    }
    // once the links are gone, so are the systems
    for link in [
        "run/ox/current-system",
        "run/ox/booted-system",
        "etc/ox-static",
    ] {
        fs::remove_file(root.join(link)).unwrap();
    }
    assert_eq!(s.gc(false).unwrap().deleted.len(), 6);
}

#[test]
fn generated_trees_with_references() {
    let t = tmp("tree");
    let s = store(&t);
    let dep = s.add_text("unit", b"[Unit]\n", &BTreeSet::new()).unwrap();
    let target = s.print(&dep);
    let write = |p: &Path| -> std::io::Result<()> {
        fs::create_dir_all(p.join("etc"))?;
        fs::write(p.join("ox-system.json"), "{}")?;
        std::os::unix::fs::symlink(&target, p.join("etc/unit"))
    };
    let top = s
        .add_tree("ox-system-h", &BTreeSet::from([dep.clone()]), None, &write)
        .unwrap();
    assert_eq!(s.references(&top).unwrap(), BTreeSet::from([dep.clone()]));
    // The path is the `source` path of the NAR with those references.
    let nar = s.recompute_nar(&top).unwrap();
    let want = s
        .dir
        .make_fixed_output_path(
            ox_store::FileIngestionMethod::Recursive,
            &nar.hash,
            "ox-system-h",
            &BTreeSet::from([dep.clone()]),
            false,
        )
        .unwrap();
    assert_eq!(top, want);
    // Same content, same path; a wrong expectation is refused.
    assert_eq!(
        s.add_tree(
            "ox-system-h",
            &BTreeSet::from([dep.clone()]),
            Some(&top),
            &write
        )
        .unwrap(),
        top
    );
    let other = s.add_text("other", b"o", &BTreeSet::new()).unwrap();
    let t2 = tmp("tree2");
    let s2 = store(&t2);
    let dep2 = s2.add_text("unit", b"[Unit]\n", &BTreeSet::new()).unwrap();
    assert_eq!(dep2, dep);
    let e = s2
        .add_tree("ox-system-h", &BTreeSet::from([dep2]), Some(&other), &write)
        .unwrap_err();
    assert!(matches!(e, StoreError::HashMismatch { .. }), "{e}");
}

/// Many processes open a fresh store at the same moment (parallel builds,
/// deploy workers). Setting up the database must wait for the others'
/// locks, never fail with "database is locked". The processes are this
/// test binary again, running `open_race_child` (threads of one process
/// do not show the failure).
#[test]
fn simultaneous_opens_of_a_fresh_store_all_succeed() {
    use std::process::Stdio;
    let exe = std::env::current_exe().unwrap();
    for round in 0..5 {
        let t = tmp(&format!("open-race-{round}"));
        let go = t.join("go");
        let children: Vec<_> = (0..8)
            .map(|i| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "open_race_child",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env("OX_OPEN_RACE_ROOT", t.join("root"))
                    .env("OX_OPEN_RACE_GO", &go)
                    .env("OX_OPEN_RACE_ID", i.to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // let them all start, then release them together
        std::thread::sleep(std::time::Duration::from_millis(300));
        fs::write(&go, "").unwrap();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The child of `simultaneous_opens_of_a_fresh_store_all_succeed`; does
/// nothing when run on its own.
#[test]
fn open_race_child() {
    let (Some(root), Some(go), Some(id)) = (
        std::env::var_os("OX_OPEN_RACE_ROOT"),
        std::env::var_os("OX_OPEN_RACE_GO"),
        std::env::var_os("OX_OPEN_RACE_ID"),
    ) else {
        return;
    };
    let id = id.to_string_lossy().into_owned();
    while !Path::new(&go).exists() {
        std::thread::yield_now();
    }
    // open, write, close again and again: the last connection to close
    // checkpoints and removes the WAL, which is when an opening one used
    // to get "database is locked"
    for k in 0..20 {
        let s = Store::open(StoreConfig::with_root(Path::new(&root), "/ox/store"))
            .unwrap_or_else(|e| panic!("open {id}/{k}: {e}"));
        s.add_text(&format!("t{id}-{k}"), id.as_bytes(), &BTreeSet::new())
            .unwrap_or_else(|e| panic!("add {id}/{k}: {e}"));
    }
}
