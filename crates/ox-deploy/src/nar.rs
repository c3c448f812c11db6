//! Unpacking a NAR stream into a directory tree (the inverse of
//! `ox_store::dump_path`), hashing every byte on the way so the caller
//! can check the stream against the hash the sender announced before
//! anything becomes valid.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use ox_store::{Hash, HashAlgo, Hasher};

/// A malformed or truncated NAR, or a file system error while unpacking.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading the archive: {0}")]
    Read(io::Error),
    #[error("writing {path}: {err}")]
    Write { path: String, err: io::Error },
    #[error("not a valid NAR: {0}")]
    Format(String),
}

/// Reads from `inner`, counting and hashing what passes.
struct HashingReader<'a, R: Read> {
    inner: &'a mut R,
    hasher: Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

struct Parser<'a, R: Read> {
    r: HashingReader<'a, R>,
}

const MAX_TOKEN: u64 = 4096;

impl<R: Read> Parser<'_, R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), RestoreError> {
        self.r.read_exact(buf).map_err(RestoreError::Read)
    }

    fn u64(&mut self) -> Result<u64, RestoreError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn pad(&mut self, len: u64) -> Result<(), RestoreError> {
        let rem = (len % 8) as usize;
        if rem != 0 {
            let mut z = [0u8; 8];
            self.exact(&mut z[..8 - rem])?;
            if z[..8 - rem].iter().any(|b| *b != 0) {
                return Err(RestoreError::Format("non-zero padding".into()));
            }
        }
        Ok(())
    }

    /// A short string token (names, keywords, symlink targets).
    fn token(&mut self) -> Result<Vec<u8>, RestoreError> {
        let n = self.u64()?;
        if n > MAX_TOKEN {
            return Err(RestoreError::Format(format!("token of {n} bytes")));
        }
        let mut v = vec![0u8; n as usize];
        self.exact(&mut v)?;
        self.pad(n)?;
        Ok(v)
    }

    fn expect(&mut self, what: &str) -> Result<(), RestoreError> {
        let t = self.token()?;
        if t != what.as_bytes() {
            return Err(RestoreError::Format(format!(
                "expected `{what}`, found `{}`",
                String::from_utf8_lossy(&t)
            )));
        }
        Ok(())
    }

    fn node(&mut self, dst: &Path) -> Result<(), RestoreError> {
        let werr = |e: io::Error| RestoreError::Write {
            path: dst.display().to_string(),
            err: e,
        };
        self.expect("(")?;
        self.expect("type")?;
        let ty = self.token()?;
        match ty.as_slice() {
            b"regular" => {
                let mut t = self.token()?;
                let mut exec = false;
                if t == b"executable" {
                    self.expect("")?;
                    exec = true;
                    t = self.token()?;
                }
                if t != b"contents" {
                    return Err(RestoreError::Format("expected `contents`".into()));
                }
                let size = self.u64()?;
                let mut f = fs::File::create(dst).map_err(werr)?;
                let mut left = size;
                let mut buf = vec![0u8; 64 * 1024];
                while left > 0 {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.exact(&mut buf[..want])?;
                    f.write_all(&buf[..want]).map_err(werr)?;
                    left -= want as u64;
                }
                self.pad(size)?;
                let mode = if exec { 0o555 } else { 0o444 };
                f.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(werr)?;
                self.expect(")")?;
            }
            b"symlink" => {
                self.expect("target")?;
                let target = self.token()?;
                use std::os::unix::ffi::OsStrExt;
                symlink(std::ffi::OsStr::from_bytes(&target), dst).map_err(werr)?;
                self.expect(")")?;
            }
            b"directory" => {
                fs::create_dir(dst).map_err(werr)?;
                let mut last: Option<Vec<u8>> = None;
                loop {
                    let t = self.token()?;
                    if t == b")" {
                        break;
                    }
                    if t != b"entry" {
                        return Err(RestoreError::Format("expected `entry` or `)`".into()));
                    }
                    self.expect("(")?;
                    self.expect("name")?;
                    let name = self.token()?;
                    // a name that could escape the tree, or entries out of
                    // order (a NAR has exactly one encoding per tree)
                    if name.is_empty()
                        || name == b"."
                        || name == b".."
                        || name.contains(&b'/')
                        || name.contains(&0)
                        || last.as_ref().is_some_and(|l| *l >= name)
                    {
                        return Err(RestoreError::Format(format!(
                            "bad or unordered entry name `{}`",
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    self.expect("node")?;
                    use std::os::unix::ffi::OsStrExt;
                    self.node(&dst.join(std::ffi::OsStr::from_bytes(&name)))?;
                    self.expect(")")?;
                    last = Some(name);
                }
            }
            other => {
                return Err(RestoreError::Format(format!(
                    "unknown node type `{}`",
                    String::from_utf8_lossy(other)
                )))
            }
        }
        Ok(())
    }
}

/// Unpacks one NAR from `r` into `dst` (which must not exist) and
/// returns its sha256 and size. Reads exactly the NAR's bytes, so
/// several NARs can follow each other in one stream.
pub fn restore(r: &mut impl Read, dst: &Path) -> Result<(Hash, u64), RestoreError> {
    let mut p = Parser {
        r: HashingReader {
            inner: r,
            hasher: Hasher::new(HashAlgo::Sha256),
        },
    };
    p.expect("nix-archive-1")?;
    p.node(dst)?;
    let size = p.r.hasher.bytes_written();
    Ok((p.r.hasher.finish(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_then_restore_is_identical() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::create_dir_all(src.join("empty")).unwrap();
        fs::write(src.join("bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
        fs::set_permissions(src.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(src.join("data"), vec![7u8; 100_003]).unwrap();
        symlink("/usr/bin/git", src.join("git")).unwrap();
        let mut nar = Vec::new();
        ox_store::dump_path(&src, &mut nar).unwrap();
        // two NARs back to back in one stream
        let mut stream = nar.clone();
        stream.extend_from_slice(&nar);
        let mut r = io::Cursor::new(stream);
        let (h1, s1) = restore(&mut r, &t.path().join("a")).unwrap();
        let (h2, _) = restore(&mut r, &t.path().join("b")).unwrap();
        assert_eq!(s1, nar.len() as u64);
        let want = Hash::digest(HashAlgo::Sha256, &nar);
        assert_eq!(h1, want);
        assert_eq!(h2, want);
        let again = ox_store::nar_hash(&t.path().join("a"), HashAlgo::Sha256).unwrap();
        assert_eq!(again.hash, want);
        assert_eq!(
            fs::read_link(t.path().join("b/git")).unwrap(),
            Path::new("/usr/bin/git")
        );
    }

    #[test]
    fn truncated_or_malicious_archives_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("f"), b"hello").unwrap();
        let mut nar = Vec::new();
        ox_store::dump_path(&src, &mut nar).unwrap();
        let cut = &nar[..nar.len() - 9];
        let e = restore(&mut io::Cursor::new(cut), &t.path().join("x")).unwrap_err();
        assert!(matches!(e, RestoreError::Read(_)), "{e}");
        // an entry named `..`
        let mut w = ox_store::nar::NarWriter::new(Vec::new());
        for tok in [
            "nix-archive-1",
            "(",
            "type",
            "directory",
            "entry",
            "(",
            "name",
            "..",
        ] {
            w.token(tok.as_bytes()).unwrap();
        }
        let bad = w.into_inner();
        let e = restore(&mut io::Cursor::new(bad), &t.path().join("y")).unwrap_err();
        assert!(e.to_string().contains("bad or unordered entry name"), "{e}");
    }
}
