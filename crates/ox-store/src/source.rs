//! Which store path a file system path gets when it is added to the store
//! (`"${./x}"`, `builtins.path`, `builtins.filterSource`,
//! `nix-store --add[-fixed]`). Computation only: nothing is copied.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use crate::hash::{Hash, HashAlgo, Hasher};
use crate::nar::{FileKind, FilteredNarError, NarError, NarWriter};
use crate::store_path::{FileIngestionMethod, StoreDir, StorePath, StorePathError};

/// Errors while computing the store path for a source path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError<E = std::convert::Infallible> {
    #[error(transparent)]
    Nar(#[from] NarError),
    #[error(transparent)]
    StorePath(#[from] StorePathError),
    #[error("path '{0}' has no usable base name for a store path; give an explicit name")]
    NoName(String),
    #[error("path filter failed")]
    Filter(E),
}

impl<E> From<FilteredNarError<E>> for SourceError<E> {
    fn from(e: FilteredNarError<E>) -> Self {
        match e {
            FilteredNarError::Nar(e) => SourceError::Nar(e),
            FilteredNarError::Filter(e) => SourceError::Filter(e),
        }
    }
}

/// Result of adding a path: where it would go and the hashes a store
/// would record for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePath {
    pub path: StorePath,
    /// The hash the path was computed from (NAR hash for recursive,
    /// file hash for flat), in the requested algorithm.
    pub content_hash: Hash,
    /// sha256 of the NAR that would be stored.
    pub nar_hash: Hash,
    pub nar_size: u64,
}

/// The name Nix gives a copied path by default: its base name
/// (`"${./foo.txt}"` becomes `<hash>-foo.txt`).
pub fn default_name(path: &Path) -> Result<&str, SourceError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| SourceError::NoName(path.display().to_string()))
}

/// Store path of `src` added under `name` with `method`, hashing with
/// `algo` (sha256 for `"${./x}"` and `builtins.path`), keeping only what
/// `filter` accepts (recursive only; pass `|_, _| true` for none).
pub fn source_path(
    store: &StoreDir,
    src: &Path,
    name: &str,
    method: FileIngestionMethod,
    algo: HashAlgo,
    mut filter: impl FnMut(&Path, FileKind) -> bool,
) -> Result<SourcePath, SourceError> {
    try_source_path(store, src, name, method, algo, |p, k| {
        Ok::<_, std::convert::Infallible>(filter(p, k))
    })
}

/// [`source_path`] with a filter that may fail (a Nix lambda may throw).
pub fn try_source_path<E>(
    store: &StoreDir,
    src: &Path,
    name: &str,
    method: FileIngestionMethod,
    algo: HashAlgo,
    mut filter: impl FnMut(&Path, FileKind) -> Result<bool, E>,
) -> Result<SourcePath, SourceError<E>> {
    // Validate the name before doing possibly expensive hashing.
    crate::store_path::check_name(name)?;
    let (content_hash, nar_hash, nar_size) = match method {
        FileIngestionMethod::Recursive => {
            let mut sha = Hasher::new(HashAlgo::Sha256);
            let mut other = (algo != HashAlgo::Sha256).then(|| Hasher::new(algo));
            {
                let mut tee = Tee {
                    a: &mut sha,
                    b: other.as_mut(),
                };
                NarWriter::new(&mut tee).dump(src, &mut filter)?;
            }
            let size = sha.bytes_written();
            let nar = sha.finish();
            let content = other.map_or_else(|| nar.clone(), Hasher::finish);
            (content, nar, size)
        }
        FileIngestionMethod::Flat => {
            let (content, nar, size) = flat_hashes(src, algo)?;
            (content, nar, size)
        }
    };
    let path =
        store.make_fixed_output_path(method, &content_hash, name, &BTreeSet::new(), false)?;
    Ok(SourcePath {
        path,
        content_hash,
        nar_hash,
        nar_size,
    })
}

/// Flat ingestion reads the file following symlinks (as Nix's
/// `readFile`), and stores it as a non-executable regular file. One
/// streaming pass feeds both the content hash and the NAR hash.
fn flat_hashes(src: &Path, algo: HashAlgo) -> Result<(Hash, Hash, u64), NarError> {
    let read_err = |source| NarError::Read {
        path: src.to_owned(),
        source,
    };
    let f = File::open(src).map_err(read_err)?;
    let meta = f.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(NarError::NotRegularFile(src.to_owned()));
    }
    let mut content = Hasher::new(algo);
    let mut nar = Hasher::new(HashAlgo::Sha256);
    {
        let mut w = NarWriter::new(&mut nar);
        w.magic()?;
        w.regular_from_reader(src, f, false, meta.len(), |chunk| content.update(chunk))?;
    }
    let size = nar.bytes_written();
    Ok((content.finish(), nar.finish(), size))
}

/// Writes to one hasher and optionally a second one.
struct Tee<'a> {
    a: &'a mut Hasher,
    b: Option<&'a mut Hasher>,
}

impl std::io::Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.a.update(buf);
        if let Some(b) = self.b.as_mut() {
            b.update(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
