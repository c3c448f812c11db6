//! The embedded `nix/` tree: it matches the repository's, and concurrent
//! writers end with one complete copy.

use std::path::Path;

#[test]
fn embedded_tree_matches_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nix");
    let files = ox_modules::nixdir::files();
    assert!(files.iter().any(|(p, _)| *p == "lib/default.nix"));
    for (rel, data) in files {
        let on_disk = std::fs::read(root.join(rel)).unwrap();
        assert_eq!(
            &on_disk[..],
            *data,
            "{} differs from the embedded copy",
            rel
        );
    }
}

#[test]
fn concurrent_materialisation_is_safe() {
    let dir = std::env::temp_dir().join(format!("ox-nixdir-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let d = dir.clone();
            std::thread::spawn(move || ox_modules::nixdir::materialise_in(&d).unwrap())
        })
        .collect();
    let paths: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    let p = &paths[0];
    assert!(p.join("lib/default.nix").exists());
    assert!(p.join(".complete").exists());
    // no temporary directories are left behind
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{:?}", left);
    std::fs::remove_dir_all(&dir).unwrap();
}
