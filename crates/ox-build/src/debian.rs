//! Debian packages pinned in a lock file (`ox.lock`): reading and
//! writing the lock, and resolving a package into a lock entry from apt
//! (`apt-cache show`, `apt-get download`) or from a local `.deb`. The
//! entry (version, .deb sha256, file list) is what `nix/pkgs/debian.nix`
//! turns into a `builtin:ox-debian-package` derivation; see docs/store.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value as Json};

use crate::{BuildError, Result};

fn other(msg: impl Into<String>) -> BuildError {
    BuildError::Other(msg.into())
}

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let o = cmd
        .output()
        .map_err(|e| other(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if !o.status.success() {
        return Err(other(format!(
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The packages in a lock file (empty if it does not exist).
pub fn read_lock(path: &Path) -> Result<BTreeMap<String, Json>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(other(format!("reading {}: {e}", path.display()))),
    };
    let v: Json = serde_json::from_str(&text)
        .map_err(|e| other(format!("{}: not JSON: {e}", path.display())))?;
    let pkgs = v
        .get("packages")
        .and_then(|p| p.as_object())
        .ok_or_else(|| {
            other(format!(
                "{}: expected {{\"packages\": {{…}}}}",
                path.display()
            ))
        })?;
    Ok(pkgs.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// Writes the lock deterministically (names and keys sorted).
pub fn write_lock(path: &Path, pkgs: &BTreeMap<String, Json>) -> Result<()> {
    let mut obj = serde_json::Map::new();
    for (k, v) in pkgs {
        obj.insert(k.clone(), v.clone());
    }
    let doc = json!({ "formatVersion": 1, "packages": Json::Object(obj) });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| other(e.to_string()))? + "\n";
    let tmp = path.with_extension("lock.tmp");
    std::fs::write(&tmp, text).map_err(|e| other(format!("writing {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| other(format!("writing {}: {e}", path.display())))
}

/// The files (not directories) of a `.deb`, as absolute paths, sorted.
fn deb_files(deb: &Path) -> Result<Vec<String>> {
    let out = run(
        Command::new("dpkg-deb").arg("--contents").arg(deb),
        &format!("listing {}", deb.display()),
    )?;
    let mut files = Vec::new();
    for line in out.lines() {
        if line.starts_with('d') {
            continue;
        }
        // perms owner size date time path [-> target | link to other]
        let mut rest = line;
        for _ in 0..5 {
            rest = rest.trim_start();
            rest = rest.split_once(char::is_whitespace).map_or("", |(_, r)| r);
        }
        let path = rest.trim_start();
        let path = path.split(" -> ").next().unwrap_or(path);
        let path = path.split(" link to ").next().unwrap_or(path);
        if let Some(p) = path.strip_prefix('.') {
            if p.starts_with('/') && p.len() > 1 {
                files.push(p.to_string());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// A lock entry from a local `.deb` file: (package name, entry).
pub fn entry_from_deb(deb: &Path) -> Result<(String, Json)> {
    let field = |f: &str| -> Result<String> {
        Ok(run(
            Command::new("dpkg-deb").arg("--field").arg(deb).arg(f),
            &format!("reading {} of {}", f, deb.display()),
        )?
        .trim()
        .to_string())
    };
    let name = field("Package")?;
    let data = std::fs::read(deb).map_err(|e| other(format!("reading {}: {e}", deb.display())))?;
    let sha = ox_store::Hash::digest(ox_store::HashAlgo::Sha256, &data).to_base16();
    Ok((
        name,
        json!({
            "version": field("Version")?,
            "architecture": field("Architecture")?,
            "sha256": sha,
            "files": deb_files(deb)?,
        }),
    ))
}

/// Resolves `name` with apt: the candidate version's .deb is downloaded
/// (into a temporary directory), checked against apt's SHA256 and listed.
pub fn entry_from_apt(name: &str) -> Result<(String, Json)> {
    let show = Command::new("apt-cache")
        .args(["show", "--no-all-versions", name])
        .output()
        .map_err(|e| other(format!("cannot run apt-cache: {e}")))?;
    let text = String::from_utf8_lossy(&show.stdout).into_owned();
    if !show.status.success() || text.trim().is_empty() {
        return Err(other(unknown_package(name)));
    }
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .map(|s| s.trim().to_string())
    };
    let version =
        get("Version").ok_or_else(|| other(format!("apt-cache show {name}: no Version")))?;
    let want_sha =
        get("SHA256").ok_or_else(|| other(format!("apt-cache show {name}: no SHA256")))?;
    let dir = std::env::temp_dir().join(format!("ox-pkgs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| other(format!("{}: {e}", dir.display())))?;
    let r = (|| {
        run(
            Command::new("apt-get")
                .args(["download", "-q", &format!("{name}={version}")])
                .current_dir(&dir),
            &format!("downloading {name} {version}"),
        )?;
        let deb = std::fs::read_dir(&dir)
            .map_err(|e| other(e.to_string()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .ok_or_else(|| other(format!("apt-get download {name} produced no .deb")))?;
        let (pkg, mut entry) = entry_from_deb(&deb)?;
        if entry["sha256"] != Json::String(want_sha.clone()) {
            return Err(other(format!(
                "{name} {version}: downloaded .deb has sha256 {} but apt lists {want_sha}",
                entry["sha256"]
            )));
        }
        if let Some(f) = get("Filename") {
            entry["filename"] = Json::String(f);
        }
        Ok((pkg, entry))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// "unknown package" with the closest names apt knows.
fn unknown_package(name: &str) -> String {
    let names = Command::new("apt-cache")
        .arg("pkgnames")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    // Swapped letters ("gti" for "git") count as one edit.
    let sorted = |s: &str| {
        let mut c: Vec<char> = s.chars().collect();
        c.sort_unstable();
        c
    };
    let want = sorted(name);
    let mut close: Vec<(usize, &str)> = names
        .lines()
        .map(|n| {
            let d = ox_eval::eval::levenshtein(name, n);
            let d = if d == 2 && n.len() == name.len() && sorted(n) == want {
                1
            } else {
                d
            };
            (d, n)
        })
        .filter(|(d, _)| *d <= 2)
        .collect();
    close.sort();
    let close: Vec<&str> = close.iter().take(5).map(|(_, n)| *n).collect();
    if close.is_empty() {
        format!("'{name}' is not a package apt knows (run apt-get update?)")
    } else {
        format!(
            "'{name}' is not a package apt knows; did you mean {}?",
            close.join(", ")
        )
    }
}
