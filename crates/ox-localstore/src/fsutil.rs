//! File-system helpers for store paths: normalising a finished tree the
//! way Nix does (read-only, mtime 1), making it durable (fsync), copying
//! trees in and deleting them again.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// Sets atime and mtime of `p` (not following symlinks) to 1 second
/// after the epoch, as Nix does for every store file.
pub fn set_mtime_one(p: &Path) -> io::Result<()> {
    let c = cstr(p)?;
    let t = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    let times = [t, t];
    // SAFETY: valid NUL-terminated path and a two-element timespec array.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the tree at `p` canonical and durable: regular files 0444 (0555
/// if any execute bit was set), directories 0555, no setuid/sticky bits,
/// every mtime 1, every file and directory fsynced. Anything but regular
/// files, directories and symlinks is rejected: it cannot be put in a NAR.
pub fn normalise_and_sync(p: &Path) -> io::Result<()> {
    normalise(p, true)
}

/// [`normalise_and_sync`], with the fsyncs only if `sync` (a caller that
/// syncs the whole filesystem afterwards passes `false`).
pub fn normalise(p: &Path, sync: bool) -> io::Result<()> {
    let md = fs::symlink_metadata(p)?;
    let ft = md.file_type();
    if ft.is_symlink() {
        set_mtime_one(p)?;
    } else if ft.is_file() {
        let mode = if md.mode() & 0o111 != 0 { 0o555 } else { 0o444 };
        fs::set_permissions(p, fs::Permissions::from_mode(mode))?;
        set_mtime_one(p)?;
        if sync {
            fs::File::open(p)?.sync_all()?;
        }
    } else if ft.is_dir() {
        // Children first: the directory must stay writable until they are done.
        fs::set_permissions(p, fs::Permissions::from_mode(0o755))?;
        for e in fs::read_dir(p)? {
            normalise(&e?.path(), sync)?;
        }
        fs::set_permissions(p, fs::Permissions::from_mode(0o555))?;
        set_mtime_one(p)?;
        if sync {
            fs::File::open(p)?.sync_all()?;
        }
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "'{}' is not a regular file, directory or symlink",
                p.display()
            ),
        ));
    }
    Ok(())
}

/// fsyncs a directory, so a rename into it is durable.
pub fn sync_dir(p: &Path) -> io::Result<()> {
    fs::File::open(p)?.sync_all()
}

/// Copies a tree (files with their execute bits, symlinks as symlinks).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    copy_tree_filtered(src, dst, &|_| false)
}

/// [`copy_tree`] leaving out the entries `exclude` names (by source path).
pub fn copy_tree_filtered(
    src: &Path,
    dst: &Path,
    exclude: &dyn Fn(&Path) -> bool,
) -> io::Result<()> {
    let md = fs::symlink_metadata(src)?;
    let ft = md.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_dir() {
        fs::create_dir(dst)?;
        fs::set_permissions(dst, fs::Permissions::from_mode(0o755))?;
        let mut names: Vec<_> = fs::read_dir(src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            let child = src.join(&n);
            if !exclude(&child) {
                copy_tree_filtered(&child, &dst.join(&n), exclude)?;
            }
        }
    } else if ft.is_file() {
        fs::copy(src, dst)?;
        let mode = if md.mode() & 0o111 != 0 { 0o755 } else { 0o644 };
        fs::set_permissions(dst, fs::Permissions::from_mode(mode))?;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "'{}' is not a regular file, directory or symlink",
                src.display()
            ),
        ));
    }
    Ok(())
}

/// Deletes a tree that may contain read-only directories.
pub fn remove_tree(p: &Path) -> io::Result<()> {
    let md = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if md.is_dir() {
        make_writable(p)?;
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
}

fn make_writable(p: &Path) -> io::Result<()> {
    let md = fs::symlink_metadata(p)?;
    if md.is_dir() {
        if md.mode() & 0o700 != 0o700 {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755))?;
        }
        for e in fs::read_dir(p)? {
            make_writable(&e?.path())?;
        }
    }
    Ok(())
}

/// Disk usage in bytes of a tree (sum of file sizes), for reports.
pub fn tree_size(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    if md.is_dir() {
        fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
            .unwrap_or(0)
    } else {
        md.len()
    }
}
