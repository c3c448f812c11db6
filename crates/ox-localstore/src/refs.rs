//! Reference scanning: which of a set of candidate store paths a new
//! path refers to, found (as Nix does) by searching its NAR
//! serialisation for the 32-character hash parts of the candidates.
//! The NAR is hashed in the same pass.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::Path;

use ox_store::{Hash, HashAlgo, Hasher, StorePath};

const HASH_LEN: usize = 32;

fn is_base32(b: u8) -> bool {
    // Nix's base-32 alphabet: digits and lowercase letters without e, o, u, t.
    matches!(b, b'0'..=b'9' | b'a'..=b'z') && !matches!(b, b'e' | b'o' | b'u' | b't')
}

/// A `Write` sink that hashes what it is given and records which
/// candidate hash parts occur in it, also across write boundaries.
pub struct RefScanner {
    candidates: HashMap<[u8; HASH_LEN], usize>,
    found: Vec<bool>,
    hasher: Hasher,
    /// The last up to 31 bytes of the previous writes.
    tail: Vec<u8>,
}

impl RefScanner {
    pub fn new(candidates: &[StorePath]) -> RefScanner {
        let mut map = HashMap::new();
        for (i, c) in candidates.iter().enumerate() {
            let mut k = [0u8; HASH_LEN];
            k.copy_from_slice(c.hash_part().as_bytes());
            map.insert(k, i);
        }
        RefScanner {
            candidates: map,
            found: vec![false; candidates.len()],
            hasher: Hasher::new(HashAlgo::Sha256),
            tail: Vec::new(),
        }
    }

    fn scan(&mut self, buf: &[u8]) {
        let mut i = 0;
        'outer: while i + HASH_LEN <= buf.len() {
            // Check from the end so a bad byte lets us skip past it.
            let mut j = HASH_LEN;
            while j > 0 {
                j -= 1;
                if !is_base32(buf[i + j]) {
                    i += j + 1;
                    continue 'outer;
                }
            }
            let mut k = [0u8; HASH_LEN];
            k.copy_from_slice(&buf[i..i + HASH_LEN]);
            if let Some(&idx) = self.candidates.get(&k) {
                self.found[idx] = true;
            }
            i += 1;
        }
    }

    /// The NAR hash and size, and the indices of the candidates found.
    pub fn finish(self) -> (Hash, u64, Vec<usize>) {
        let size = self.hasher.bytes_written();
        let found = self
            .found
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| i)
            .collect();
        (self.hasher.finish(), size, found)
    }
}

impl Write for RefScanner {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        if self.candidates.is_empty() {
            return Ok(buf.len());
        }
        // Scan the seam between the previous tail and this buffer, then
        // the buffer itself.
        if !self.tail.is_empty() {
            let mut seam = self.tail.clone();
            seam.extend_from_slice(&buf[..buf.len().min(HASH_LEN - 1)]);
            self.scan(&seam);
        }
        self.scan(buf);
        let keep = HASH_LEN - 1;
        if buf.len() >= keep {
            self.tail = buf[buf.len() - keep..].to_vec();
        } else {
            self.tail.extend_from_slice(buf);
            let n = self.tail.len();
            if n > keep {
                self.tail.drain(..n - keep);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// NAR hash, NAR size and the references (among `candidates`) of the
/// tree at `path`.
pub fn scan_path(
    path: &Path,
    candidates: &[StorePath],
) -> Result<(Hash, u64, BTreeSet<StorePath>), ox_store::NarError> {
    let mut s = RefScanner::new(candidates);
    ox_store::dump_path(path, &mut s)?;
    let (h, size, found) = s.finish();
    Ok((
        h,
        size,
        found.into_iter().map(|i| candidates[i].clone()).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hash_parts_across_write_boundaries() {
        let a = StorePath::from_base_name("0c5xvqqv4xlxxbyr5bbzk2r5i1kqbdm7-a").unwrap();
        let b = StorePath::from_base_name("1c5xvqqv4xlxxbyr5bbzk2r5i1kqbdm7-b").unwrap();
        let c = StorePath::from_base_name("2c5xvqqv4xlxxbyr5bbzk2r5i1kqbdm7-c").unwrap();
        let cands = vec![a, b, c];
        let text = b"xx/ox/store/0c5xvqqv4xlxxbyr5bbzk2r5i1kqbdm7-a/bin and 2c5xvqqv4xlxxbyr5bbzk2r5i1kqbdm7";
        for split in 0..text.len() {
            let mut s = RefScanner::new(&cands);
            s.write_all(&text[..split]).unwrap();
            s.write_all(&text[split..]).unwrap();
            let (_, size, found) = s.finish();
            assert_eq!(size, text.len() as u64);
            assert_eq!(found, vec![0, 2], "split at {split}");
        }
    }
}
