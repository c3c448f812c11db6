//! The `<ox>` search-path entry: the repository's `nix/` tree, embedded in
//! the binary at build time and written out once per content hash.
//!
//! `ox_nix_dir()` returns a directory holding exactly the embedded tree
//! (`$XDG_CACHE_HOME/ox/nix-<hash>`, `~/.cache/ox/…`, or
//! `/var/cache/ox/…` for root). It is written to a temporary directory
//! first and renamed into place, so concurrent `ox` processes never see
//! a half-written tree.

use std::io;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/nixdir.rs"));
}

/// Content hash of the embedded tree.
pub fn hash() -> &'static str {
    embedded::HASH
}

/// The embedded files: (path relative to `nix/`, contents).
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

fn cache_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("ox");
    }
    // SAFETY-free root check: root has HOME=/root but should share a
    // system-wide cache with system services.
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if is_root {
        return PathBuf::from("/var/cache/ox");
    }
    match std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/ox"),
        None => std::env::temp_dir().join("ox-cache"),
    }
}

/// The materialised `nix/` tree (created on first use).
pub fn ox_nix_dir() -> io::Result<PathBuf> {
    materialise_in(&cache_root())
}

/// Write the tree under `root/nix-<hash>` unless it is already there.
pub fn materialise_in(root: &Path) -> io::Result<PathBuf> {
    let dest = root.join(format!("nix-{}", hash()));
    if dest.join(".complete").exists() {
        return Ok(dest);
    }
    std::fs::create_dir_all(root)?;
    let tmp = root.join(format!(
        ".nix-{}.tmp-{}-{:?}",
        hash(),
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    for (rel, data) in files() {
        let p = tmp.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, data)?;
    }
    std::fs::write(tmp.join(".complete"), hash())?;
    match std::fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another process won the race: its copy is identical.
            if dest.join(".complete").exists() {
                Ok(dest)
            } else {
                Err(e)
            }
        }
    }
}

/// Append `ox=<dir>` to a search path (after `-I` and `NIX_PATH`
/// entries, so `-I ox=./nix` overrides the embedded copy). An `ox`
/// entry already present is left alone; failure to write the cache only
/// means `<ox>` is not available.
pub fn add_to_search_path(sp: &mut Vec<(String, String)>) {
    if let Ok(d) = ox_nix_dir() {
        sp.push(("ox".into(), d.to_string_lossy().into_owned()));
    }
}
