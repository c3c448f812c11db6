//! NAR ("Nix ARchive") serialisation of file system trees.
//!
//! The format is deterministic by design: only the file type, the
//! executable bit, file contents, symlink targets and (sorted) entry names
//! are recorded; no times, owners or other permission bits. Every token is
//! a string: a little-endian u64 length, the bytes, then zero padding to a
//! multiple of 8.

use std::convert::Infallible;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::hash::{Hash, HashAlgo, Hasher};

/// File type as `builtins.filterSource`/`builtins.path` report it to the
/// filter function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    /// Sockets, FIFOs, devices: they can be filtered out but not archived.
    Unknown,
}

impl FileKind {
    /// The string Nix passes to filter functions.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Regular => "regular",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Unknown => "unknown",
        }
    }

    fn of(ft: fs::FileType) -> FileKind {
        if ft.is_file() {
            FileKind::Regular
        } else if ft.is_dir() {
            FileKind::Directory
        } else if ft.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Unknown
        }
    }
}

/// Errors while serialising a path.
#[derive(Debug, thiserror::Error)]
pub enum NarError {
    #[error("reading '{path}': {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing NAR: {0}")]
    Write(#[source] io::Error),
    #[error("file '{0}' has an unsupported type: expected a regular file, directory or symlink")]
    UnsupportedType(PathBuf),
    #[error("file '{0}' shrank while it was being archived")]
    FileChanged(PathBuf),
    #[error("'{0}' is not a regular file: flat hashing needs one")]
    NotRegularFile(PathBuf),
}

impl NarError {
    fn read(path: &Path) -> impl FnOnce(io::Error) -> NarError + '_ {
        move |source| NarError::Read {
            path: path.to_owned(),
            source,
        }
    }
}

/// Error from a dump whose filter can fail (e.g. a Nix filter function
/// that throws): either the archive failed or the filter did.
#[derive(Debug, thiserror::Error)]
pub enum FilteredNarError<E> {
    #[error(transparent)]
    Nar(#[from] NarError),
    #[error("path filter failed")]
    Filter(E),
}

const MAGIC: &str = "nix-archive-1";

/// Writes NAR tokens. Usable directly to build a NAR from memory (e.g. for
/// text files that never existed on disk).
pub struct NarWriter<W: Write> {
    out: W,
}

impl<W: Write> NarWriter<W> {
    pub fn new(out: W) -> Self {
        NarWriter { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn raw(&mut self, b: &[u8]) -> Result<(), NarError> {
        self.out.write_all(b).map_err(NarError::Write)
    }

    fn u64(&mut self, n: u64) -> Result<(), NarError> {
        self.raw(&n.to_le_bytes())
    }

    fn pad(&mut self, len: u64) -> Result<(), NarError> {
        let rem = (len % 8) as usize;
        if rem != 0 {
            self.raw(&[0u8; 8][..8 - rem])?;
        }
        Ok(())
    }

    /// One length-prefixed, padded string token.
    pub fn token(&mut self, b: &[u8]) -> Result<(), NarError> {
        self.u64(b.len() as u64)?;
        self.raw(b)?;
        self.pad(b.len() as u64)
    }

    /// A whole NAR holding one regular file with these contents.
    pub fn single_file(&mut self, contents: &[u8], executable: bool) -> Result<(), NarError> {
        self.token(MAGIC.as_bytes())?;
        self.regular_header(executable, contents.len() as u64)?;
        self.raw(contents)?;
        self.regular_footer(contents.len() as u64)
    }

    fn regular_header(&mut self, executable: bool, size: u64) -> Result<(), NarError> {
        self.token(b"(")?;
        self.token(b"type")?;
        self.token(b"regular")?;
        if executable {
            self.token(b"executable")?;
            self.token(b"")?;
        }
        self.token(b"contents")?;
        self.u64(size)
    }

    fn regular_footer(&mut self, size: u64) -> Result<(), NarError> {
        self.pad(size)?;
        self.token(b")")
    }

    /// Streams `size` bytes of `path` in fixed-size chunks.
    fn regular_file(&mut self, path: &Path, executable: bool, size: u64) -> Result<(), NarError> {
        let f = File::open(path).map_err(NarError::read(path))?;
        self.regular_from_reader(path, f, executable, size, |_| ())
    }

    /// Writes a regular file node whose `size` bytes come from `r`,
    /// passing each chunk to `also` too (so a flat hash can be taken in
    /// the same pass). `path` is only for error messages.
    pub(crate) fn regular_from_reader(
        &mut self,
        path: &Path,
        mut r: impl Read,
        executable: bool,
        size: u64,
        mut also: impl FnMut(&[u8]),
    ) -> Result<(), NarError> {
        self.regular_header(executable, size)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = match r.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(NarError::read(path)(e)),
            };
            if n == 0 {
                return Err(NarError::FileChanged(path.to_owned()));
            }
            self.raw(&buf[..n])?;
            also(&buf[..n]);
            left -= n as u64;
        }
        self.regular_footer(size)
    }

    /// Writes the `nix-archive-1` magic; call once before the root node.
    pub(crate) fn magic(&mut self) -> Result<(), NarError> {
        self.token(MAGIC.as_bytes())
    }

    fn node<E>(
        &mut self,
        path: &Path,
        filter: &mut dyn FnMut(&Path, FileKind) -> Result<bool, E>,
    ) -> Result<(), FilteredNarError<E>> {
        // lstat: symlinks are archived as symlinks, never followed.
        let meta = fs::symlink_metadata(path).map_err(NarError::read(path))?;
        let ft = meta.file_type();
        match FileKind::of(ft) {
            FileKind::Regular => {
                let exec = meta.permissions().mode() & 0o100 != 0;
                self.regular_file(path, exec, meta.len())?;
            }
            FileKind::Symlink => {
                let target = fs::read_link(path).map_err(NarError::read(path))?;
                self.token(b"(")?;
                self.token(b"type")?;
                self.token(b"symlink")?;
                self.token(b"target")?;
                self.token(target.as_os_str().as_bytes())?;
                self.token(b")")?;
            }
            FileKind::Directory => {
                let mut entries = Vec::new();
                for e in fs::read_dir(path).map_err(NarError::read(path))? {
                    let e = e.map_err(NarError::read(path))?;
                    entries.push(e.file_name());
                }
                // Byte order of names, as Nix's std::map orders them.
                entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                self.token(b"(")?;
                self.token(b"type")?;
                self.token(b"directory")?;
                for name in entries {
                    let child = path.join(&name);
                    let kind = fs::symlink_metadata(&child)
                        .map(|m| FileKind::of(m.file_type()))
                        .map_err(NarError::read(&child))?;
                    if !filter(&child, kind).map_err(FilteredNarError::Filter)? {
                        continue;
                    }
                    self.token(b"entry")?;
                    self.token(b"(")?;
                    self.token(b"name")?;
                    self.token(name.as_bytes())?;
                    self.token(b"node")?;
                    self.node(&child, filter)?;
                    self.token(b")")?;
                }
                self.token(b")")?;
            }
            FileKind::Unknown => return Err(NarError::UnsupportedType(path.to_owned()).into()),
        }
        Ok(())
    }

    /// Archives `path` as a complete NAR. The filter sees every entry
    /// below `path` (never `path` itself, as in Nix) with its lstat type;
    /// rejected entries and everything under them are left out.
    pub fn dump<E>(
        &mut self,
        path: &Path,
        filter: &mut dyn FnMut(&Path, FileKind) -> Result<bool, E>,
    ) -> Result<(), FilteredNarError<E>> {
        self.token(MAGIC.as_bytes())?;
        self.node(path, filter)
    }
}

fn no_filter_error(e: FilteredNarError<Infallible>) -> NarError {
    match e {
        FilteredNarError::Nar(e) => e,
        FilteredNarError::Filter(never) => match never {},
    }
}

/// Writes the NAR of `path` to `out`.
pub fn dump_path(path: &Path, out: impl Write) -> Result<(), NarError> {
    dump_path_filtered(path, out, |_, _| true)
}

/// Writes the NAR of `path`, keeping only entries for which
/// `filter(path, kind)` is true (`builtins.filterSource`).
pub fn dump_path_filtered(
    path: &Path,
    out: impl Write,
    mut filter: impl FnMut(&Path, FileKind) -> bool,
) -> Result<(), NarError> {
    let mut f = |p: &Path, k: FileKind| Ok::<bool, Infallible>(filter(p, k));
    NarWriter::new(out)
        .dump(path, &mut f)
        .map_err(no_filter_error)
}

/// Like [`dump_path_filtered`] with a filter that may fail; its error
/// stops the dump and is handed back unchanged.
pub fn try_dump_path_filtered<E>(
    path: &Path,
    out: impl Write,
    mut filter: impl FnMut(&Path, FileKind) -> Result<bool, E>,
) -> Result<(), FilteredNarError<E>> {
    NarWriter::new(out).dump(path, &mut filter)
}

/// Hash and size of a NAR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NarInfo {
    pub hash: Hash,
    pub size: u64,
}

/// Hashes the NAR of `path` without materialising it
/// (`nix-hash --type <algo> <path>`).
pub fn nar_hash(path: &Path, algo: HashAlgo) -> Result<NarInfo, NarError> {
    nar_hash_filtered(path, algo, |_, _| true)
}

/// [`nar_hash`] with a filter.
pub fn nar_hash_filtered(
    path: &Path,
    algo: HashAlgo,
    filter: impl FnMut(&Path, FileKind) -> bool,
) -> Result<NarInfo, NarError> {
    let mut h = Hasher::new(algo);
    dump_path_filtered(path, &mut h, filter)?;
    let size = h.bytes_written();
    Ok(NarInfo {
        hash: h.finish(),
        size,
    })
}

/// [`nar_hash`] with a fallible filter.
pub fn try_nar_hash_filtered<E>(
    path: &Path,
    algo: HashAlgo,
    filter: impl FnMut(&Path, FileKind) -> Result<bool, E>,
) -> Result<NarInfo, FilteredNarError<E>> {
    let mut h = Hasher::new(algo);
    try_dump_path_filtered(path, &mut h, filter)?;
    let size = h.bytes_written();
    Ok(NarInfo {
        hash: h.finish(),
        size,
    })
}

/// The NAR of a single regular file held in memory.
pub fn nar_of_bytes(contents: &[u8], executable: bool) -> Vec<u8> {
    let mut w = NarWriter::new(Vec::with_capacity(contents.len() + 160));
    // Writing to a Vec cannot fail.
    let _ = w.single_file(contents, executable);
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &[u8]) -> Vec<u8> {
        let mut v = (s.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(s);
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
        v
    }

    #[test]
    fn single_file_layout() {
        let mut want = Vec::new();
        for t in [
            &b"nix-archive-1"[..],
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hello",
            b")",
        ] {
            want.extend(tok(t));
        }
        assert_eq!(nar_of_bytes(b"hello", false), want);
        let exec = nar_of_bytes(b"", true);
        assert!(exec
            .windows(b"executable".len())
            .any(|w| w == b"executable"));
        assert_eq!(exec.len() % 8, 0);
    }

    #[test]
    fn file_kinds() {
        assert_eq!(FileKind::Regular.as_str(), "regular");
        assert_eq!(FileKind::Directory.as_str(), "directory");
        assert_eq!(FileKind::Symlink.as_str(), "symlink");
        assert_eq!(FileKind::Unknown.as_str(), "unknown");
    }

    #[test]
    fn filter_errors_stop_the_dump() {
        let dir = std::env::temp_dir().join(format!("ox-store-nar-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("d")).expect("mkdir");
        fs::write(dir.join("f"), b"x").expect("write");
        let r = try_dump_path_filtered(&dir, io::sink(), |p, _| {
            if p.ends_with("f") {
                Err("boom")
            } else {
                Ok(true)
            }
        });
        assert!(matches!(r, Err(FilteredNarError::Filter("boom"))));
        // The filter never sees the root, and sees children with types.
        let mut seen = Vec::new();
        dump_path_filtered(&dir, io::sink(), |p, k| {
            seen.push((p.to_owned(), k));
            false
        })
        .expect("dump");
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            vec![
                (dir.join("d"), FileKind::Directory),
                (dir.join("f"), FileKind::Regular)
            ]
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_path_is_an_error() {
        let r = dump_path(Path::new("/nonexistent/ox-store-test"), io::sink());
        assert!(matches!(r, Err(NarError::Read { .. })));
    }
}
