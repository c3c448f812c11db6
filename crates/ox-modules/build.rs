//! Embeds the repository's top-level `nix/` tree (ox's `lib`, `pkgs` and
//! modules) into the crate, with a content hash that names its cache dir.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(_) => return,
    };
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() {
            println!("cargo:rerun-if-changed={}", p.display());
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../../nix");
    let mut files = Vec::new();
    walk(&root, &mut files);
    // FNV-1a over names and contents: only needs to change when they do.
    let mut h: u64 = 0xcbf29ce484222325;
    let mut feed = |b: &[u8]| {
        for x in b {
            h ^= *x as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    };
    let mut src = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        let data = std::fs::read(f).expect("readable nix file");
        feed(rel.as_bytes());
        feed(&[0]);
        feed(&data);
        feed(&[0]);
        let abs = f.canonicalize().expect("canonical path");
        writeln!(
            src,
            "    ({:?}, include_bytes!({:?})),",
            rel,
            abs.to_string_lossy()
        )
        .unwrap();
    }
    src.push_str("];\n");
    writeln!(src, "pub const HASH: &str = \"{:016x}\";", h).unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("nixdir.rs");
    std::fs::write(out, src).expect("write generated file");
}
