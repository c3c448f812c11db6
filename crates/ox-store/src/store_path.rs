//! Store directories, store path names, and the fingerprint scheme that
//! turns content or derivation hashes into store paths.

use std::collections::BTreeSet;
use std::fmt;

use crate::hash::{compress_hash, decode_base32, encode_base32, Hash, HashAlgo, HashFormat};

/// Length of a store path's hash part (160 bits in Nix base-32).
pub const HASH_PART_LEN: usize = 32;
/// Bytes in the digest behind the hash part.
pub const HASH_PART_BYTES: usize = 20;
/// Longest name Nix accepts after `<hash>-`.
pub const MAX_NAME_LEN: usize = 211;

/// Errors about store directories and store paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorePathError {
    #[error("store directory '{0}' must be an absolute path without a trailing '/' and without '.' or '..' components")]
    BadStoreDir(String),
    #[error("store path name is empty")]
    EmptyName,
    #[error("store path name '{0}' is longer than {MAX_NAME_LEN} characters")]
    NameTooLong(String),
    #[error("store path name '{name}' contains illegal character '{ch}': expected only letters, digits and '+-._?='")]
    IllegalChar { name: String, ch: char },
    #[error("path '{path}' is not in the store '{store_dir}'")]
    NotInStore { path: String, store_dir: String },
    #[error("store path '{0}' must be '<32 base-32 characters>-<name>'")]
    BadBaseName(String),
    #[error("fixed-output path '{0}' cannot have references unless it is recursive sha256")]
    ReferencesNotAllowed(String),
}

/// Checks a store path name the way Nix 2.8 does: non-empty, at most 211
/// characters, only `[A-Za-z0-9+\-._?=]`.
pub fn check_name(name: &str) -> Result<(), StorePathError> {
    if name.is_empty() {
        return Err(StorePathError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(StorePathError::NameTooLong(name.to_owned()));
    }
    if let Some(ch) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(c)))
    {
        return Err(StorePathError::IllegalChar {
            name: name.to_owned(),
            ch,
        });
    }
    Ok(())
}

/// A store path without its directory: hash part and name.
///
/// Ordering is that of the base name, which is how Nix orders store path
/// sets (and so how they appear in `.drv` files).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorePath {
    hash_part: String,
    name: String,
}

impl StorePath {
    /// Builds a store path from a 20-byte digest and a name.
    pub fn from_digest(digest: &[u8; HASH_PART_BYTES], name: &str) -> Result<Self, StorePathError> {
        check_name(name)?;
        Ok(StorePath {
            hash_part: encode_base32(digest),
            name: name.to_owned(),
        })
    }

    /// Parses `<hash>-<name>` (no directory).
    pub fn from_base_name(base: &str) -> Result<Self, StorePathError> {
        let bad = || StorePathError::BadBaseName(base.to_owned());
        if base.len() < HASH_PART_LEN + 2 || !base.is_char_boundary(HASH_PART_LEN) {
            return Err(bad());
        }
        let (hash_part, rest) = base.split_at(HASH_PART_LEN);
        let name = rest.strip_prefix('-').ok_or_else(bad)?;
        if decode_base32(hash_part, HASH_PART_BYTES).is_none() {
            return Err(bad());
        }
        check_name(name)?;
        Ok(StorePath {
            hash_part: hash_part.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The 32-character base-32 hash part.
    pub fn hash_part(&self) -> &str {
        &self.hash_part
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> String {
        format!("{}-{}", self.hash_part, self.name)
    }

    /// True for `.drv` files.
    pub fn is_derivation(&self) -> bool {
        self.name.ends_with(".drv")
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.hash_part, self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({}-{})", self.hash_part, self.name)
    }
}

/// How file system content is turned into a hash for a fixed-output path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileIngestionMethod {
    /// The hash of a single regular file's contents.
    Flat,
    /// The hash of the NAR serialisation.
    Recursive,
}

impl FileIngestionMethod {
    /// The prefix Nix puts before the algorithm name (`r:sha256`).
    pub fn prefix(self) -> &'static str {
        match self {
            FileIngestionMethod::Flat => "",
            FileIngestionMethod::Recursive => "r:",
        }
    }
}

/// The store directory, e.g. `/nix/store`. It is part of every store
/// path fingerprint, so the same content gets different hashes in
/// different store directories.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreDir(String);

impl Default for StoreDir {
    /// `/nix/store`, so paths can be compared with C++ Nix.
    fn default() -> Self {
        StoreDir("/nix/store".to_owned())
    }
}

impl fmt::Display for StoreDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StoreDir {
    /// A store directory; must be absolute and canonical-looking (a
    /// trailing '/' would change every fingerprint, so it is rejected
    /// rather than silently stripped).
    pub fn new(dir: &str) -> Result<StoreDir, StorePathError> {
        let bad = || StorePathError::BadStoreDir(dir.to_owned());
        if !dir.starts_with('/') || dir.len() < 2 || dir.ends_with('/') {
            return Err(bad());
        }
        if dir[1..]
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(bad());
        }
        Ok(StoreDir(dir.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full path string, `<dir>/<hash>-<name>`.
    pub fn print(&self, path: &StorePath) -> String {
        format!("{}/{}-{}", self.0, path.hash_part, path.name)
    }

    /// Parses a full store path (exactly a top-level store entry).
    pub fn parse(&self, path: &str) -> Result<StorePath, StorePathError> {
        let base = path
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .filter(|b| !b.contains('/'))
            .ok_or_else(|| StorePathError::NotInStore {
                path: path.to_owned(),
                store_dir: self.0.clone(),
            })?;
        StorePath::from_base_name(base)
    }

    /// Splits a path inside the store, e.g. `/nix/store/<h>-foo/bin/sh`,
    /// into the store path and the rest (`/bin/sh`, or "" for the top).
    pub fn split_path<'a>(&self, path: &'a str) -> Result<(StorePath, &'a str), StorePathError> {
        let not_in_store = || StorePathError::NotInStore {
            path: path.to_owned(),
            store_dir: self.0.clone(),
        };
        let rest = path
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(not_in_store)?;
        let (base, sub) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        Ok((StorePath::from_base_name(base)?, sub))
    }

    /// True if `path` is a top-level store path in this store.
    pub fn is_store_path(&self, path: &str) -> bool {
        self.parse(path).is_ok()
    }

    /// Nix's `makeStorePath`: the path hash is the sha256 of
    /// `<type>:<algo>:<base16 hash>:<store dir>:<name>`, XOR-folded to
    /// 160 bits.
    pub fn make_store_path(
        &self,
        path_type: &str,
        hash: &Hash,
        name: &str,
    ) -> Result<StorePath, StorePathError> {
        check_name(name)?;
        let fingerprint = format!(
            "{}:{}:{}:{}",
            path_type,
            hash.to_string_as(HashFormat::Base16, true),
            self.0,
            name
        );
        let digest = Hash::digest(HashAlgo::Sha256, fingerprint.as_bytes());
        let folded = compress_hash(digest.bytes(), HASH_PART_BYTES);
        Ok(StorePath {
            hash_part: encode_base32(&folded),
            name: name.to_owned(),
        })
    }

    /// Nix's `makeType`: the path type followed by each reference (full
    /// path, sorted) and `:self` for a self reference.
    pub fn make_type(
        &self,
        path_type: &str,
        references: &BTreeSet<StorePath>,
        self_reference: bool,
    ) -> String {
        let mut s = path_type.to_owned();
        for r in references {
            s.push(':');
            s.push_str(&self.print(r));
        }
        if self_reference {
            s.push_str(":self");
        }
        s
    }

    /// Path of a text file added with references (`builtins.toFile`,
    /// `.drv` files); `content_hash` is the sha256 of the contents.
    pub fn make_text_path(
        &self,
        name: &str,
        content_hash: &Hash,
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StorePathError> {
        self.make_store_path(
            &self.make_type("text", references, false),
            content_hash,
            name,
        )
    }

    /// [`StoreDir::make_text_path`] hashing `contents` itself.
    pub fn text_path_for(
        &self,
        name: &str,
        contents: &[u8],
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StorePathError> {
        let h = Hash::digest(HashAlgo::Sha256, contents);
        self.make_text_path(name, &h, references)
    }

    /// Path of content-addressed data. Recursive sha256 is the common
    /// case and gets a `source` path directly from the NAR hash (and is
    /// the only kind that may have references); everything else goes
    /// through an extra `fixed:out:` hash so the path stays the same as
    /// the output path of a fixed-output derivation with that hash.
    pub fn make_fixed_output_path(
        &self,
        method: FileIngestionMethod,
        hash: &Hash,
        name: &str,
        references: &BTreeSet<StorePath>,
        self_reference: bool,
    ) -> Result<StorePath, StorePathError> {
        if method == FileIngestionMethod::Recursive && hash.algo() == HashAlgo::Sha256 {
            return self.make_store_path(
                &self.make_type("source", references, self_reference),
                hash,
                name,
            );
        }
        if !references.is_empty() || self_reference {
            return Err(StorePathError::ReferencesNotAllowed(name.to_owned()));
        }
        let inner = Hash::digest(
            HashAlgo::Sha256,
            fixed_out_fingerprint(method, hash).as_bytes(),
        );
        self.make_store_path("output:out", &inner, name)
    }

    /// Output path of an input-addressed derivation: `hash` is the
    /// derivation's modulo hash; outputs other than `out` get
    /// `<name>-<output>`.
    pub fn make_output_path(
        &self,
        output: &str,
        drv_hash: &Hash,
        drv_name: &str,
    ) -> Result<StorePath, StorePathError> {
        let name = output_path_name(drv_name, output);
        self.make_store_path(&format!("output:{output}"), drv_hash, &name)
    }
}

/// `fixed:out:<r:?><algo>:<base16>:`; shared by fixed-output paths and
/// (with the output path appended) the modulo hash of fixed-output
/// derivations.
pub(crate) fn fixed_out_fingerprint(method: FileIngestionMethod, hash: &Hash) -> String {
    format!(
        "fixed:out:{}{}:",
        method.prefix(),
        hash.to_string_as(HashFormat::Base16, true)
    )
}

/// `<drv name>` for `out`, `<drv name>-<output>` otherwise.
pub fn output_path_name(drv_name: &str, output: &str) -> String {
    if output == "out" {
        drv_name.to_owned()
    } else {
        format!("{drv_name}-{output}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("hello-2.10").is_ok());
        assert!(check_name("a+b=c?d_e.f").is_ok());
        assert_eq!(check_name(""), Err(StorePathError::EmptyName));
        assert!(matches!(
            check_name("a b"),
            Err(StorePathError::IllegalChar { ch: ' ', .. })
        ));
        assert!(matches!(
            check_name("é"),
            Err(StorePathError::IllegalChar { ch: 'é', .. })
        ));
        assert!(check_name(&"x".repeat(211)).is_ok());
        assert!(matches!(
            check_name(&"x".repeat(212)),
            Err(StorePathError::NameTooLong(_))
        ));
    }

    #[test]
    fn store_dirs() {
        assert!(StoreDir::new("/nix/store").is_ok());
        assert!(StoreDir::new("/ox/store").is_ok());
        for bad in [
            "",
            "/",
            "nix/store",
            "/nix/store/",
            "/nix//store",
            "/nix/../store",
        ] {
            assert!(StoreDir::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parse_and_print() {
        let sd = StoreDir::default();
        let s = "/nix/store/l9ldjc53ry43x24hvq73jx7dx0489mhj-a.drv";
        let p = sd.parse(s).expect("valid");
        assert_eq!(p.hash_part(), "l9ldjc53ry43x24hvq73jx7dx0489mhj");
        assert_eq!(p.name(), "a.drv");
        assert!(p.is_derivation());
        assert_eq!(sd.print(&p), s);
        let sub = format!("{s}/sub/dir");
        let (p2, rest) = sd.split_path(&sub).expect("valid");
        assert_eq!((p2, rest), (p.clone(), "/sub/dir"));
        assert_eq!(sd.split_path(s).map(|x| x.1), Ok(""));
        for bad in [
            "/nix/store/l9ldjc53ry43x24hvq73jx7dx0489mhj",
            "/nix/store/l9ldjc53ry43x24hvq73jx7dx0489mhj-",
            "/nix/store/e9ldjc53ry43x24hvq73jx7dx0489mhj-a",
            "/nix/store/l9ldjc53ry43x24hvq73jx7dx0489mhj_a",
            "/nix/store/l9ldjc53ry43x24hvq73jx7dx0489mhj-a/b",
            "/nix/storel9ldjc53ry43x24hvq73jx7dx0489mhj-a",
            "/other/l9ldjc53ry43x24hvq73jx7dx0489mhj-a",
            "/nix/store/ééééééééééééééééé-a",
        ] {
            assert!(sd.parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn store_dir_changes_paths() {
        let h = Hash::digest(HashAlgo::Sha256, b"x");
        let a = StoreDir::default().make_store_path("source", &h, "x");
        let b = StoreDir::new("/ox/store").and_then(|s| s.make_store_path("source", &h, "x"));
        assert_ne!(a, b);
    }

    #[test]
    fn references_only_for_recursive_sha256() {
        let sd = StoreDir::default();
        let r = sd
            .text_path_for("r", b"r", &BTreeSet::new())
            .expect("valid");
        let refs: BTreeSet<_> = [r].into_iter().collect();
        let h1 = Hash::digest(HashAlgo::Sha1, b"x");
        assert!(matches!(
            sd.make_fixed_output_path(FileIngestionMethod::Flat, &h1, "x", &refs, false),
            Err(StorePathError::ReferencesNotAllowed(_))
        ));
        let h = Hash::digest(HashAlgo::Sha256, b"x");
        let with = sd.make_fixed_output_path(FileIngestionMethod::Recursive, &h, "x", &refs, false);
        let without = sd.make_fixed_output_path(
            FileIngestionMethod::Recursive,
            &h,
            "x",
            &BTreeSet::new(),
            false,
        );
        assert!(with.is_ok() && without.is_ok() && with != without);
    }

    #[test]
    fn output_names() {
        assert_eq!(output_path_name("foo", "out"), "foo");
        assert_eq!(output_path_name("foo", "dev"), "foo-dev");
    }
}
