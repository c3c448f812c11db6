//! Where fetched sources live: `<store dir>/<hash>-source`, named by the
//! NAR hash of the tree exactly as Nix names a fetched source
//! (`makeFixedOutputPath(recursive, sha256(NAR), "source")`), so the
//! narHash in `flake.lock` alone says where a locked input is cached.
//!
//! Copies are made in a temporary directory next to the destination and
//! renamed into place, so a store path either is complete or does not
//! exist. Modification times are reset to 1 (Nix's canonical time), so a
//! relative path input's `lastModified` is 1 as with C++ Nix.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ox_store::{FileIngestionMethod, Hash, HashAlgo, StoreDir};

use crate::Error;

/// How a finished tree becomes a valid store path. Without one, the tree
/// is renamed into place; the CLI plugs in the on-disk store's
/// registration (database, fsync) so fetched sources are valid paths
/// that builds may refer to.
pub trait Placer {
    /// Move `tmp` (inside the store directory) to `dest` and make it valid.
    fn place(&self, tmp: &Path, dest: &Path, nar_hash: &Hash) -> Result<(), String>;
    /// Whether `dest` is a valid store path.
    fn is_valid(&self, dest: &Path) -> bool;
}

#[derive(Clone)]
pub struct SourceStore {
    pub dir: PathBuf,
    store: StoreDir,
    placer: Option<std::rc::Rc<dyn Placer>>,
}

impl std::fmt::Debug for SourceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceStore({})", self.dir.display())
    }
}

/// A tree in the store with its NAR hash.
#[derive(Clone, Debug)]
pub struct Added {
    pub path: PathBuf,
    pub nar_hash: Hash,
}

impl SourceStore {
    pub fn new(dir: &Path) -> Result<SourceStore, Error> {
        let s = dir.to_string_lossy().into_owned();
        let store =
            StoreDir::new(&s).map_err(|e| Error::Store(format!("store dir '{}': {}", s, e)))?;
        Ok(SourceStore {
            dir: dir.to_path_buf(),
            store,
            placer: None,
        })
    }

    /// Use `placer` to make added trees valid.
    pub fn with_placer(mut self, placer: std::rc::Rc<dyn Placer>) -> SourceStore {
        self.placer = Some(placer);
        self
    }

    fn present(&self, p: &Path) -> bool {
        match &self.placer {
            Some(pl) => pl.is_valid(p),
            None => p.exists(),
        }
    }

    pub fn store_dir(&self) -> &StoreDir {
        &self.store
    }

    /// The store path a source with this NAR hash has.
    pub fn path_for(&self, nar_hash: &Hash) -> Result<PathBuf, Error> {
        let sp = self
            .store
            .make_fixed_output_path(
                FileIngestionMethod::Recursive,
                nar_hash,
                "source",
                &Default::default(),
                false,
            )
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok(PathBuf::from(self.store.print(&sp)))
    }

    /// The cached copy of a locked source, if it is in the store.
    pub fn lookup(&self, nar_hash_sri: &str) -> Result<Option<PathBuf>, Error> {
        let h = Hash::parse(nar_hash_sri, Some(HashAlgo::Sha256))
            .map_err(|e| Error::Store(format!("bad narHash '{}': {}", nar_hash_sri, e)))?;
        let p = self.path_for(&h)?;
        Ok(self.present(&p).then_some(p))
    }

    /// Copy `src` into the store. With `only`, just those relative paths
    /// (files or symlinks; their parent directories come along) are
    /// copied — how a git work tree contributes only tracked files.
    pub fn add_tree(&self, src: &Path, only: Option<&[PathBuf]>) -> Result<Added, Error> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating store dir '{}'", self.dir.display()), e))?;
        let tmp = self.temp_dir()?;
        let guard = TempGuard(tmp.clone());
        let meta = fs::symlink_metadata(src)
            .map_err(|e| Error::io(format!("reading '{}'", src.display()), e))?;
        match only {
            Some(files) => {
                fs::create_dir(&tmp).map_err(|e| Error::io("creating a temporary directory", e))?;
                for rel in files {
                    let from = src.join(rel);
                    let to = tmp.join(rel);
                    if let Some(parent) = to.parent() {
                        fs::create_dir_all(parent).map_err(|e| {
                            Error::io(format!("creating '{}'", parent.display()), e)
                        })?;
                    }
                    // A tracked file deleted from the work tree is simply absent.
                    if fs::symlink_metadata(&from).is_ok() {
                        copy_entry(&from, &to)?;
                    }
                }
            }
            None if meta.is_dir() => copy_entry(src, &tmp)?,
            None => copy_entry(src, &tmp)?,
        }
        self.finish(tmp, guard)
    }

    /// Move a tree already prepared in [`SourceStore::temp_dir`] into place.
    pub fn add_prepared(&self, tmp: PathBuf) -> Result<Added, Error> {
        let guard = TempGuard(tmp.clone());
        self.finish(tmp, guard)
    }

    /// A fresh path next to the store entries, on the same file system.
    pub fn temp_dir(&self) -> Result<PathBuf, Error> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("creating store dir '{}'", self.dir.display()), e))?;
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        Ok(self.dir.join(format!(
            ".ox-tmp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }

    fn finish(&self, tmp: PathBuf, guard: TempGuard) -> Result<Added, Error> {
        canonicalise_times(&tmp)?;
        let info = ox_store::nar_hash(&tmp, HashAlgo::Sha256)
            .map_err(|e| Error::Store(format!("hashing '{}': {}", tmp.display(), e)))?;
        let nar_hash = info.hash;
        let dest = self.path_for(&nar_hash)?;
        if let Some(pl) = &self.placer {
            if !pl.is_valid(&dest) {
                pl.place(&tmp, &dest, &nar_hash).map_err(Error::Store)?;
            }
            drop(guard);
            return Ok(Added {
                path: dest,
                nar_hash,
            });
        }
        if !dest.exists() {
            match fs::rename(&tmp, &dest) {
                Ok(()) => {}
                // Someone else added the same tree meanwhile.
                Err(_) if dest.exists() => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("moving source to '{}'", dest.display()),
                        e,
                    ))
                }
            }
        }
        drop(guard);
        Ok(Added {
            path: dest,
            nar_hash,
        })
    }
}

/// Removes a temporary tree unless it was moved away.
struct TempGuard(PathBuf);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if fs::symlink_metadata(&self.0).is_ok() {
            make_writable(&self.0);
            let _ = fs::remove_dir_all(&self.0).or_else(|_| fs::remove_file(&self.0));
        }
    }
}

fn make_writable(p: &Path) {
    if let Ok(m) = fs::symlink_metadata(p) {
        if m.is_dir() {
            let _ = fs::set_permissions(p, fs::Permissions::from_mode(0o755));
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// Copy a file, symlink or directory tree; keep only the executable bit.
pub fn copy_entry(from: &Path, to: &Path) -> Result<(), Error> {
    let m = fs::symlink_metadata(from)
        .map_err(|e| Error::io(format!("reading '{}'", from.display()), e))?;
    let ft = m.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(from)
            .map_err(|e| Error::io(format!("reading '{}'", from.display()), e))?;
        std::os::unix::fs::symlink(&target, to)
            .map_err(|e| Error::io(format!("creating '{}'", to.display()), e))?;
    } else if ft.is_dir() {
        fs::create_dir(to).map_err(|e| Error::io(format!("creating '{}'", to.display()), e))?;
        let mut entries: Vec<_> = fs::read_dir(from)
            .map_err(|e| Error::io(format!("reading '{}'", from.display()), e))?
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            copy_entry(&e.path(), &to.join(e.file_name()))?;
        }
    } else if ft.is_file() {
        fs::copy(from, to).map_err(|e| Error::io(format!("copying '{}'", from.display()), e))?;
        let exec = m.permissions().mode() & 0o100 != 0;
        fs::set_permissions(
            to,
            fs::Permissions::from_mode(if exec { 0o555 } else { 0o444 }),
        )
        .map_err(|e| Error::io(format!("chmod '{}'", to.display()), e))?;
    } else {
        return Err(Error::Store(format!(
            "'{}' is neither a file, a directory nor a symlink; it cannot be put in the store",
            from.display()
        )));
    }
    Ok(())
}

/// Set every mtime in a tree to 1, as Nix does for store paths.
fn canonicalise_times(p: &Path) -> Result<(), Error> {
    let m =
        fs::symlink_metadata(p).map_err(|e| Error::io(format!("reading '{}'", p.display()), e))?;
    if m.is_dir() {
        for e in fs::read_dir(p)
            .map_err(|e| Error::io(format!("reading '{}'", p.display()), e))?
            .flatten()
        {
            canonicalise_times(&e.path())?;
        }
    }
    set_mtime(p, 1);
    Ok(())
}

fn set_mtime(p: &Path, secs: i64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return;
    };
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: a valid NUL-terminated path and two timespecs.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        );
    }
}

/// The newest modification time in a tree (Nix's `lastModified` of a
/// `path:` input), symlinks not followed.
pub fn newest_mtime(p: &Path) -> Result<u64, Error> {
    use std::os::unix::fs::MetadataExt;
    let m =
        fs::symlink_metadata(p).map_err(|e| Error::io(format!("reading '{}'", p.display()), e))?;
    let mut t = m.mtime().max(0) as u64;
    if m.is_dir() {
        for e in fs::read_dir(p)
            .map_err(|e| Error::io(format!("reading '{}'", p.display()), e))?
            .flatten()
        {
            t = t.max(newest_mtime(&e.path())?);
        }
    }
    Ok(t)
}
