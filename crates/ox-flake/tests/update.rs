//! Pins survive upstream changes until `update` asks, also for an input
//! whose reference comes from an override in an outer flake
//! (`inputs.a.inputs.g.url = …`), and `update a/g` moves only that pin.

use ox_flake::{LockMode, Session, Settings};
use ox_testhost::testsupport::sh;

fn rev_of(f: &ox_flake::Flake, path: &[&str]) -> String {
    let p: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    let key = f.lock.resolve_path(&p).expect("input exists");
    f.lock.nodes[&key]
        .locked
        .as_ref()
        .and_then(|l| l.str("rev"))
        .expect("a git input has a rev")
        .to_string()
}

#[test]
fn overridden_inputs_stay_pinned_until_updated() {
    let work = std::env::temp_dir().join(format!("ox-flake-update-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    sh(
        &work,
        r#"mkdir g other a root
cd g && git init -q -b main && echo '{ outputs = { self }: { n = 1; }; }' > flake.nix && git add . && git commit -qm one && cd ..
cd other && git init -q -b main && echo '{ outputs = { self }: { n = 100; }; }' > flake.nix && git add . && git commit -qm one && cd ..
echo "{ inputs.g.url = \"git+file://$PWD/other\"; outputs = { self, g }: { n = g.n; }; }" > a/flake.nix
echo "{ inputs.a.url = \"path:$PWD/a\"; inputs.a.inputs.g.url = \"git+file://$PWD/g\"; inputs.g.url = \"git+file://$PWD/g\"; outputs = { self, a, g }: { n = a.n; }; }" > root/flake.nix"#,
    );
    let root = work.join("root");
    let settings = || {
        let mut s = Settings::from_env(None);
        s.store_dir = work.join("store");
        s
    };
    let mut s = Session::new(settings()).unwrap();
    let f1 = ox_flake::lock_flake(&mut s, &root, &[], false, LockMode::Write).unwrap();
    let r1 = rev_of(&f1, &["a", "g"]);
    assert_eq!(
        r1,
        rev_of(&f1, &["g"]),
        "the override points a/g at the same repo"
    );

    sh(
        &work.join("g"),
        "echo '{ outputs = { self }: { n = 2; }; }' > flake.nix && git commit -qam two",
    );
    let f2 = ox_flake::lock_flake(&mut s, &root, &[], false, LockMode::Check).unwrap();
    assert!(!f2.lock_changed());
    assert_eq!(rev_of(&f2, &["a", "g"]), r1, "a/g stays pinned");
    let v = ox_flake::flake_value(&mut s, &f2).unwrap();
    let n = ox_flake::select(&mut s, v, &["n"]).unwrap();
    assert_eq!(ox_eval::print::print_value(&n), "1");

    let f3 =
        ox_flake::lock_flake(&mut s, &root, &["a/g".to_string()], false, LockMode::Write).unwrap();
    assert_ne!(rev_of(&f3, &["a", "g"]), r1, "update a/g moves it");
    assert_eq!(rev_of(&f3, &["g"]), r1, "and nothing else");
    let changes = ox_flake::describe_changes(f3.old_lock.as_ref(), &f3.lock);
    assert_eq!(changes.len(), 1, "{:?}", changes);
    assert!(
        changes[0].starts_with("• Updated input 'a/g'"),
        "{:?}",
        changes
    );
    let mut s = Session::new(settings()).unwrap();
    let f4 = ox_flake::lock_flake(&mut s, &root, &[], false, LockMode::Check).unwrap();
    let v = ox_flake::flake_value(&mut s, &f4).unwrap();
    let n = ox_flake::select(&mut s, v, &["n"]).unwrap();
    assert_eq!(ox_eval::print::print_value(&n), "2");
    sh(&work, "chmod -R u+w . && true");
    let _ = std::fs::remove_dir_all(&work);
}
