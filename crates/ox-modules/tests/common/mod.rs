//! What the ox-modules integration tests share: an evaluator with the
//! native module system installed and the repository's `nix/` as `<ox>`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ox_eval::{Eval, Settings};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn evaluator() -> Eval {
    let nix = repo().join("nix");
    let mut ev = Eval::new(Settings {
        search_path: vec![("ox".into(), nix.to_string_lossy().into_owned())],
        ..Settings::default()
    });
    ox_modules::install(&mut ev);
    ev
}
