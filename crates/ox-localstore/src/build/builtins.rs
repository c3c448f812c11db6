//! The in-process builders, `builder = "builtin:ox-…"`. They cover what
//! most configuration derivations do (write a file, link trees together,
//! copy, substitute) without starting a process or a sandbox. Their
//! inputs come from the derivation's environment, exactly like a process
//! builder's, so the derivation (and its hash) says everything about the
//! result. They may read only store paths in the input closure.
//!
//! The reference for each is docs/store.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use ox_store::{Derivation, StorePath};
use serde_json::Value as Json;

use crate::fsutil;
use crate::store::Store;

type R<T> = std::result::Result<T, String>;

struct Ctx<'a> {
    store: &'a Store,
    drv: &'a Derivation,
    closure: &'a BTreeSet<StorePath>,
    /// Physical path of the `out` output.
    out: PathBuf,
}

impl Ctx<'_> {
    fn env(&self, k: &str) -> Option<&str> {
        self.drv.env.get(k).map(|s| s.as_str())
    }
    fn req(&self, k: &str) -> R<&str> {
        self.env(k)
            .ok_or_else(|| format!("required attribute '{k}' missing"))
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.env(k), Some("1"))
    }
    fn json(&self, k: &str) -> R<Json> {
        serde_json::from_str(self.req(k)?).map_err(|e| format!("attribute '{k}' is not JSON: {e}"))
    }
    /// Physical location of a logical store path (or path below one)
    /// the build may read: it must be in the input closure.
    fn readable(&self, logical: &str) -> R<PathBuf> {
        // `/ox/store/…-a/../../etc` would leave the input.
        if Path::new(logical)
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(format!("'{logical}' must not contain '.' or '..'"));
        }
        let sp = self
            .store
            .parse(logical)
            .map_err(|_| format!("'{logical}' is not in the store"))?;
        if !self.closure.contains(&sp) {
            return Err(format!(
                "'{logical}' is not an input of this derivation (add it to the derivation's attributes)"
            ));
        }
        self.store
            .real_path_of_str(logical)
            .ok_or_else(|| format!("'{logical}' is not in the store"))
    }
}

/// A relative path that stays inside its parent.
fn safe_rel(name: &str) -> R<PathBuf> {
    let p = Path::new(name);
    if name.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "'{name}' must be a relative path without '.' or '..' components"
        ));
    }
    Ok(p.to_path_buf())
}

fn io<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs builtin `name` for `drv`, writing its outputs under `store_view`.
pub fn run(
    store: &Store,
    name: &str,
    drv: &Derivation,
    outputs: &[(String, StorePath)],
    closure: &BTreeSet<StorePath>,
    store_view: &Path,
) -> R<()> {
    let out = outputs
        .iter()
        .find(|(n, _)| n == "out")
        .map(|(_, p)| store_view.join(p.base_name()))
        .ok_or("builtin builders produce exactly one output, 'out'")?;
    if outputs.len() != 1 {
        return Err("builtin builders produce exactly one output, 'out'".into());
    }
    let cx = Ctx {
        store,
        drv,
        closure,
        out,
    };
    match name {
        "ox-write-file" => write_file(&cx),
        "ox-link-farm" => link_farm(&cx),
        "ox-symlink-join" => symlink_join(&cx),
        "ox-copy" => copy(&cx),
        "ox-substitute" => substitute(&cx),
        "ox-debian-package" => debian_package(&cx),
        _ => Err(format!(
            "unknown builtin builder 'builtin:{name}' (known: ox-write-file, ox-link-farm, ox-symlink-join, ox-copy, ox-substitute, ox-debian-package)"
        )),
    }
}

/// Where a file goes: `$out` itself, or `$out/<destination>`.
fn destination(cx: &Ctx) -> R<PathBuf> {
    match cx.env("destination").unwrap_or("") {
        "" => Ok(cx.out.clone()),
        d => {
            let rel = d
                .strip_prefix('/')
                .ok_or_else(|| format!("destination '{d}' must start with '/'"))?;
            let target = cx.out.join(safe_rel(rel)?);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io("creating directories"))?;
            }
            Ok(target)
        }
    }
}

fn write_bytes(path: &Path, data: &[u8], executable: bool) -> R<()> {
    fs::write(path, data).map_err(io("writing the output"))?;
    let mode = if executable { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("chmod"))
}

/// `text`, `executable`, `destination`.
fn write_file(cx: &Ctx) -> R<()> {
    let text = cx.req("text")?;
    let target = destination(cx)?;
    write_bytes(&target, text.as_bytes(), cx.flag("executable"))
}

/// `entries`: JSON list of `{name, path}`; `$out/<name>` → `path`.
fn link_farm(cx: &Ctx) -> R<()> {
    let entries = cx.json("entries")?;
    let list = entries
        .as_array()
        .ok_or("'entries' must be a JSON list of {name, path}")?;
    fs::create_dir(&cx.out).map_err(io("creating $out"))?;
    let mut seen = BTreeSet::new();
    for e in list {
        let name = e
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or("an entry of 'entries' has no string 'name'")?;
        let path = e
            .get("path")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("entry '{name}' has no string 'path'"))?;
        if !seen.insert(name.to_string()) {
            return Err(format!("duplicate link farm entry '{name}'"));
        }
        let link = cx.out.join(safe_rel(name)?);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(io("creating directories"))?;
        }
        symlink(path, &link).map_err(io(&format!("linking '{name}'")))?;
    }
    Ok(())
}

/// `paths`: JSON list of store paths whose trees are merged into `$out`:
/// directories become real directories, everything else a symlink to
/// the first path providing it (later ones do not override).
fn symlink_join(cx: &Ctx) -> R<()> {
    let paths = cx.json("paths")?;
    let list = paths
        .as_array()
        .ok_or("'paths' must be a JSON list of store paths")?;
    fs::create_dir(&cx.out).map_err(io("creating $out"))?;
    for p in list {
        let logical = p.as_str().ok_or("'paths' must contain strings")?;
        let real = cx.readable(logical)?;
        merge(cx, &real, Path::new(logical), &cx.out)?;
    }
    Ok(())
}

fn merge(cx: &Ctx, real: &Path, logical: &Path, dst: &Path) -> R<()> {
    // Directories are followed through symlinks that stay in the store,
    // so a package whose `bin` is itself a link still merges.
    let md = fs::metadata(real).map_err(io(&format!("reading {}", logical.display())))?;
    if !md.is_dir() {
        return Err(format!(
            "symlinkJoin: '{}' is not a directory",
            logical.display()
        ));
    }
    let mut names: Vec<_> = fs::read_dir(real)
        .map_err(io(&format!("reading {}", logical.display())))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io(&format!("reading {}", logical.display())))?;
    names.sort();
    for n in names {
        let (r, l, d) = (real.join(&n), logical.join(&n), dst.join(&n));
        let is_dir = resolve_dir(cx, &r).is_some();
        match fs::symlink_metadata(&d) {
            Err(_) => {
                if is_dir {
                    fs::create_dir(&d).map_err(io("creating a directory"))?;
                    let rr = resolve_dir(cx, &r).unwrap_or(r.clone());
                    merge(cx, &rr, &l, &d)?;
                } else {
                    symlink(&l, &d).map_err(io(&format!("linking {}", l.display())))?;
                }
            }
            Ok(m) if m.is_dir() && is_dir => {
                let rr = resolve_dir(cx, &r).unwrap_or(r.clone());
                merge(cx, &rr, &l, &d)?;
            }
            Ok(_) => {} // first one wins
        }
    }
    Ok(())
}

/// If `p` is a directory, or a symlink into an input that is one, its
/// physical location.
fn resolve_dir(cx: &Ctx, p: &Path) -> Option<PathBuf> {
    let md = fs::symlink_metadata(p).ok()?;
    if md.is_dir() {
        return Some(p.to_path_buf());
    }
    if md.file_type().is_symlink() {
        let t = fs::read_link(p).ok()?;
        let ts = t.to_str()?;
        let real = cx.readable(ts).ok()?;
        if fs::metadata(&real).ok()?.is_dir() {
            return Some(real);
        }
    }
    None
}

/// `src`: a store path (or a path in one) copied to `$out`.
fn copy(cx: &Ctx) -> R<()> {
    let src = cx.readable(cx.req("src")?)?;
    fsutil::copy_tree(&src, &cx.out).map_err(io("copying"))
}

/// `src` with `@name@` replaced by `replacements.name` (JSON object);
/// `isExecutable`; with `checkLeftovers = "1"` any remaining `@word@`
/// and any replacement that matches nothing is an error (replaceVars).
fn substitute(cx: &Ctx) -> R<()> {
    let src = cx.readable(cx.req("src")?)?;
    let mut text = fs::read_to_string(&src).map_err(io("reading src"))?;
    let reps = cx.json("replacements")?;
    // A null replacement keeps `@name@` as it is (replaceVars' escape).
    let reps: BTreeMap<String, Option<String>> = reps
        .as_object()
        .ok_or("'replacements' must be a JSON object")?
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Json::String(s) => Some(s.clone()),
                Json::Null => None,
                other => Some(other.to_string()),
            };
            (k.clone(), s)
        })
        .collect();
    let strict = cx.flag("checkLeftovers");
    for (k, v) in &reps {
        let pat = format!("@{k}@");
        if strict && !text.contains(&pat) {
            return Err(format!(
                "replaceVars: pattern {pat} does not occur in {}",
                cx.req("src")?
            ));
        }
        if let Some(v) = v {
            text = text.replace(&pat, v);
        }
    }
    if strict {
        let kept: BTreeSet<String> = reps
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| format!("@{k}@"))
            .collect();
        if let Some(left) = leftover(&text, &kept) {
            return Err(format!(
                "replaceVars: {left} in {} was not replaced (add it to the replacements, or set it to null to keep it)",
                cx.req("src")?
            ));
        }
    }
    let target = destination(cx)?;
    write_bytes(&target, text.as_bytes(), cx.flag("isExecutable"))
}

/// The first `@identifier@` in `s`.
fn leftover(s: &str, kept: &BTreeSet<String>) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'@' {
            let mut j = i + 1;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'-' || b[j] == b'\'')
            {
                j += 1;
            }
            if j < b.len()
                && b[j] == b'@'
                && j > i + 1
                && (b[i + 1].is_ascii_alphabetic() || b[i + 1] == b'_')
            {
                let w = &s[i..=j];
                if !kept.contains(w) {
                    return Some(w.to_string());
                }
                i = j + 1;
                continue;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// A Debian package pinned in the lock: `package`, `version`,
/// `debSha256`, `files` (JSON list of the package's absolute file
/// paths). `$out/<path without /usr>` links to each host path, so
/// `${pkgs.git}/bin/git` → `/usr/bin/git`; activation installs exactly
/// this version. `$out/nix-support/debian-package` names it.
fn debian_package(cx: &Ctx) -> R<()> {
    let package = cx.req("package")?;
    let version = cx.req("version")?;
    let sha = cx.req("debSha256")?;
    let files = cx.json("files")?;
    let files = files
        .as_array()
        .ok_or("'files' must be a JSON list of absolute paths")?;
    fs::create_dir(&cx.out).map_err(io("creating $out"))?;
    for f in files {
        let f = f.as_str().ok_or("'files' must contain strings")?;
        let abs = f
            .strip_prefix('/')
            .ok_or_else(|| format!("package file '{f}' is not absolute"))?;
        let rel = abs.strip_prefix("usr/").unwrap_or(abs);
        if rel.starts_with("nix-support") {
            continue;
        }
        let link = cx.out.join(safe_rel(rel)?);
        if fs::symlink_metadata(&link).is_ok() {
            continue; // /bin/x and /usr/bin/x: the first one wins
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).map_err(io("creating directories"))?;
        }
        symlink(f, &link).map_err(io(&format!("linking {f}")))?;
    }
    let ns = cx.out.join("nix-support");
    fs::create_dir_all(&ns).map_err(io("creating nix-support"))?;
    write_bytes(
        &ns.join("debian-package"),
        format!("{package} {version} {sha}\n").as_bytes(),
        false,
    )
}
