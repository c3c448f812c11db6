//! TEMPORARY: writes a rendered toplevel and its extra paths into the
//! store directory directly, under the content-addressed names computed
//! with `ox-store`'s algorithms. To be replaced by the store crate's API
//! (registration, locking, references database) once it is on main;
//! nothing else in ox-system writes to the store.

use std::path::{Path, PathBuf};

use crate::{Error, Extra, Rendered, Tree};

pub const DEFAULT_STORE_DIR: &str = "/ox/store";

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Read-only, mtime 1 (as Nix canonicalises store paths).
fn canonicalise(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::symlink_metadata(p)?;
    if md.file_type().is_symlink() {
        return Ok(());
    }
    if md.is_dir() {
        for e in std::fs::read_dir(p)? {
            canonicalise(&e?.path())?;
        }
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o555))?;
    } else {
        let exec = md.permissions().mode() & 0o111 != 0;
        let mode = if exec { 0o555 } else { 0o444 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
    std::fs::File::open(p)?.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
}

/// Writes `write` to `dest` via a temporary sibling and a rename, unless
/// `dest` exists already (content addressing: same name, same content).
fn add(dest: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<(), Error> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Ok(());
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".tmp-{}-{name}", std::process::id()));
    let _ = remove_all(&tmp);
    write(&tmp).map_err(io(&tmp))?;
    canonicalise(&tmp).map_err(io(&tmp))?;
    match std::fs::rename(&tmp, dest) {
        Ok(()) => Ok(()),
        // another build added it meanwhile
        Err(_) if dest.exists() => {
            let _ = remove_all(&tmp);
            Ok(())
        }
        Err(e) => Err(io(dest)(e)),
    }
}

fn remove_all(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::symlink_metadata(p)?;
    if md.is_dir() {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
        for e in std::fs::read_dir(p)? {
            remove_all(&e?.path())?;
        }
        std::fs::remove_dir(p)
    } else {
        std::fs::remove_file(p)
    }
}

fn write_extra(e: &Extra, p: &Path) -> std::io::Result<()> {
    match e {
        Extra::File { data, executable } => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(p, data)?;
            let mode = if *executable { 0o555 } else { 0o444 };
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        }
        Extra::Dir(t) => t.write_to(p),
    }
}

/// Puts the extra paths and the toplevel into the store; returns the
/// toplevel's store path. `store_dir` is the logical store dir the paths
/// were computed for; `root` (normally `/`) is where it is on disk, so
/// tests can use a scratch directory.
pub fn install(r: &Rendered, store_dir: &str, root: &Path) -> Result<String, Error> {
    let on_disk = |p: &str| -> PathBuf { root.join(p.trim_start_matches('/')) };
    for (p, e) in &r.extra {
        add(&on_disk(p), |tmp| write_extra(e, tmp))?;
    }
    let top = r.toplevel_path(store_dir)?;
    add(&on_disk(&top), |tmp| r.toplevel.write_to(tmp))?;
    Ok(top)
}

/// `--out-link`: an (atomically replaced) symlink to the store path.
pub fn out_link(link: &Path, target: &str) -> Result<(), Error> {
    let tmp = link.with_file_name(format!(
        ".{}.tmp-{}",
        link.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, link).map_err(io(link))
}

/// Reads a built toplevel (for `ox diff`).
pub fn read_toplevel(p: &Path) -> Result<Tree, Error> {
    Tree::read_from(p)
}
