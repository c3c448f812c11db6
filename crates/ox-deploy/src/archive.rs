//! The copy stream between deployer and remote: which paths of a
//! closure the remote lacks, and the archive that carries them.
//!
//! Stream format (stdin of `ox deploy-remote import`): for every path,
//! references before referrers, one JSON header line
//! `{"path","narHash","narSize","references","deriver","ca"}` followed
//! by exactly `narSize` bytes of NAR; then `{"end":true,"count":N}`.
//! The importer unpacks each NAR into a scratch directory while hashing
//! it, refuses the whole batch if any hash or size differs from its
//! header or a reference is neither valid nor in the batch, and only
//! then registers the batch in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use ox_localstore::{PathInfo, PendingPath, Store};
use ox_store::{Hash, HashFormat, StorePath};
use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub path: String,
    pub nar_hash: String,
    pub nar_size: u64,
    pub references: Vec<String>,
    #[serde(default)]
    pub deriver: Option<String>,
    #[serde(default)]
    pub ca: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
struct End {
    end: bool,
    count: usize,
}

/// What an import did (printed by the remote as JSON).
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub imported: usize,
    pub already_valid: usize,
    pub nar_bytes: u64,
}

/// The closure of `roots`, references before referrers, with each
/// path's registration data.
pub fn closure_in_order(store: &Store, roots: &[StorePath]) -> Result<Vec<PathInfo>, Error> {
    let all = store.closure(roots)?;
    let mut infos = BTreeMap::new();
    for p in &all {
        let info = store
            .path_info(p)?
            .ok_or_else(|| Error::Local(format!("{} is not valid", store.print(p))))?;
        infos.insert(p.clone(), info);
    }
    // depth-first post-order: every path after its references
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    fn visit(
        p: &StorePath,
        infos: &BTreeMap<StorePath, PathInfo>,
        done: &mut BTreeSet<StorePath>,
        order: &mut Vec<PathInfo>,
    ) {
        if !done.insert(p.clone()) {
            return;
        }
        if let Some(i) = infos.get(p) {
            for r in &i.references {
                if r != p {
                    visit(r, infos, done, order);
                }
            }
            order.push(i.clone());
        }
    }
    for p in infos.keys() {
        visit(p, &infos, &mut done, &mut order);
    }
    Ok(order)
}

/// Writes the archive of `paths` (already in dependency order) to `out`,
/// adding the NAR bytes sent so far to `sent`.
pub fn write_archive(
    store: &Store,
    paths: &[PathInfo],
    out: &mut dyn Write,
    sent: &AtomicU64,
) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Transport(format!("sending the closure: {e}"));
    for i in paths {
        let h = Header {
            path: store.print(&i.path),
            nar_hash: i.nar_hash.to_string_as(HashFormat::Base16, true),
            nar_size: i.nar_size,
            references: i.references.iter().map(|r| store.print(r)).collect(),
            deriver: i.deriver.as_ref().map(|d| store.print(d)),
            ca: i.ca.clone(),
        };
        let mut line = serde_json::to_vec(&h).map_err(|e| Error::Local(e.to_string()))?;
        line.push(b'\n');
        out.write_all(&line).map_err(io)?;
        let mut counting = Counting { out, sent };
        ox_store::dump_path(&store.real_path(&i.path), &mut counting)
            .map_err(|e| Error::Local(format!("archiving {}: {e}", store.print(&i.path))))?;
    }
    let end = serde_json::to_vec(&End {
        end: true,
        count: paths.len(),
    })
    .map_err(|e| Error::Local(e.to_string()))?;
    out.write_all(&end).map_err(io)?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)
}

struct Counting<'a> {
    out: &'a mut dyn Write,
    sent: &'a AtomicU64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The paths in `wanted` (one per line) that `store` does not have.
pub fn missing(store: &Store, wanted: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for l in wanted.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let p = store
            .parse(l)
            .map_err(|e| Error::Protocol(format!("`{l}` is not a store path here: {e}")))?;
        if !store.is_valid(&p)? {
            out.push(l.to_string());
        }
    }
    Ok(out)
}

/// Reads an archive from `r` and makes its paths valid in `store`, all
/// or nothing (see the module documentation).
pub fn import(store: &Store, r: &mut impl BufRead) -> Result<ImportReport, Error> {
    let scratch = store.scratch_dir("import")?;
    let res = import_into(store, r, &scratch);
    let _ = ox_localstore::fsutil::remove_tree(&scratch);
    res
}

fn import_into(
    store: &Store,
    r: &mut impl BufRead,
    scratch: &std::path::Path,
) -> Result<ImportReport, Error> {
    let mut report = ImportReport::default();
    let mut pending: Vec<PendingPath> = Vec::new();
    let mut expected: Vec<Hash> = Vec::new();
    let mut in_batch: BTreeSet<StorePath> = BTreeSet::new();
    let mut n = 0usize;
    loop {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)
            .map_err(|e| Error::Transport(format!("reading the archive: {e}")))?;
        if line.is_empty() {
            return Err(Error::Protocol(
                "the archive ended early (the sender or the connection stopped)".into(),
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&line)
            .map_err(|e| Error::Protocol(format!("bad archive header: {e}")))?;
        if v.get("end").is_some() {
            let end: End = serde_json::from_value(v)
                .map_err(|e| Error::Protocol(format!("bad archive trailer: {e}")))?;
            if end.count != n {
                return Err(Error::Protocol(format!(
                    "the archive announced {} paths but carried {n}",
                    end.count
                )));
            }
            break;
        }
        let h: Header = serde_json::from_value(v)
            .map_err(|e| Error::Protocol(format!("bad archive header: {e}")))?;
        n += 1;
        let path = store
            .parse(&h.path)
            .map_err(|e| Error::Protocol(format!("`{}`: {e}", h.path)))?;
        let want = Hash::parse(&h.nar_hash, None)
            .map_err(|e| Error::Protocol(format!("{}: bad narHash: {e}", h.path)))?;
        let tmp = scratch.join(format!("{n}"));
        let (got, size) = crate::nar::restore(r, &tmp)
            .map_err(|e| Error::Protocol(format!("{}: {e}", h.path)))?;
        report.nar_bytes += size;
        if got != want || size != h.nar_size {
            return Err(Error::Integrity(format!(
                "{}: the received NAR has {} ({size} bytes), the sender announced {} ({} bytes); nothing was registered",
                h.path,
                got.to_string_as(HashFormat::Base32, true),
                want.to_string_as(HashFormat::Base32, true),
                h.nar_size
            )));
        }
        // a path sent twice counts once (and is locked once below)
        if in_batch.contains(&path) || store.is_valid(&path)? {
            report.already_valid += 1;
            continue;
        }
        let mut refs = BTreeSet::new();
        for rf in &h.references {
            let rp = store
                .parse(rf)
                .map_err(|e| Error::Protocol(format!("{}: reference `{rf}`: {e}", h.path)))?;
            if rp != path && !in_batch.contains(&rp) && !store.is_valid(&rp)? {
                return Err(Error::Protocol(format!(
                    "{} refers to {rf}, which is neither in this host's store nor sent before it",
                    h.path
                )));
            }
            refs.insert(rp);
        }
        let deriver = match &h.deriver {
            Some(d) => Some(
                store
                    .parse(d)
                    .map_err(|e| Error::Protocol(format!("{}: deriver: {e}", h.path)))?,
            ),
            None => None,
        };
        in_batch.insert(path.clone());
        expected.push(want);
        pending.push(PendingPath {
            tmp,
            path,
            references: refs,
            deriver,
            ca: h.ca.clone(),
        });
    }
    // Another deploy may be importing the same paths: under their locks
    // (taken in path order), skip what became valid meanwhile instead of
    // replacing a tree someone may already read.
    let mut order: Vec<usize> = (0..pending.len()).collect();
    order.sort_by(|a, b| pending[*a].path.cmp(&pending[*b].path));
    let mut _locks = Vec::new();
    for i in order {
        _locks.push(store.lock_path(&pending[i].path)?);
    }
    let mut keep = Vec::new();
    let mut kept_hashes = Vec::new();
    for (p, h) in pending.into_iter().zip(expected) {
        if store.is_valid(&p.path)? {
            report.already_valid += 1;
        } else {
            keep.push(p);
            kept_hashes.push(h);
        }
    }
    let (pending, expected) = (keep, kept_hashes);
    report.imported = pending.len();
    if !pending.is_empty() {
        let infos = store.register_batch(pending)?;
        for (i, want) in infos.iter().zip(&expected) {
            // registration hashes the tree on disk again: it must be what
            // was announced (a restore bug would show up here)
            if i.nar_hash != *want {
                return Err(Error::Integrity(format!(
                    "{}: registered with a different NAR hash than announced",
                    store.print(&i.path)
                )));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ox_localstore::StoreConfig;

    fn store(root: &std::path::Path) -> Store {
        Store::open(StoreConfig::with_root(root, "/ox/store")).unwrap()
    }

    /// Two text paths, the second referring to the first.
    fn source(t: &std::path::Path) -> (Store, StorePath, StorePath) {
        let s = store(&t.join("src"));
        let a = s.add_text("a", b"first path\n", &BTreeSet::new()).unwrap();
        let refs: BTreeSet<_> = [a.clone()].into();
        let b = s
            .add_text("b", format!("uses {}\n", s.print(&a)).as_bytes(), &refs)
            .unwrap();
        (s, a, b)
    }

    fn archive_of(s: &Store, paths: &[PathInfo]) -> Vec<u8> {
        let mut out = Vec::new();
        write_archive(s, paths, &mut out, &AtomicU64::new(0)).unwrap();
        out
    }

    #[test]
    fn copies_a_closure_with_its_references() {
        let t = tempfile::tempdir().unwrap();
        let (src, a, b) = source(t.path());
        let order = closure_in_order(&src, std::slice::from_ref(&b)).unwrap();
        assert_eq!(
            order.iter().map(|i| i.path.clone()).collect::<Vec<_>>(),
            vec![a.clone(), b.clone()],
            "references first"
        );
        let dst = store(&t.path().join("dst"));
        let want = format!("{}\n{}\n", src.print(&a), src.print(&b));
        assert_eq!(missing(&dst, &want).unwrap().len(), 2);
        let data = archive_of(&src, &order);
        let rep = import(&dst, &mut std::io::Cursor::new(&data)).unwrap();
        assert_eq!(rep.imported, 2);
        assert!(dst.is_valid(&b).unwrap());
        assert_eq!(dst.references(&b).unwrap(), [a.clone()].into());
        assert_eq!(
            dst.path_info(&b).unwrap().unwrap().nar_hash,
            src.path_info(&b).unwrap().unwrap().nar_hash
        );
        assert!(missing(&dst, &want).unwrap().is_empty());
        // the same stream again imports nothing new
        let rep = import(&dst, &mut std::io::Cursor::new(&data)).unwrap();
        assert_eq!((rep.imported, rep.already_valid), (0, 2));
    }

    #[test]
    fn headers_naming_paths_outside_the_store_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let (src, a, _) = source(t.path());
        let order = closure_in_order(&src, std::slice::from_ref(&a)).unwrap();
        let data = String::from_utf8_lossy(&archive_of(&src, &order)).into_owned();
        let dst = store(&t.path().join("dst"));
        for evil in ["/etc/passwd", "/ox/store/../../etc/passwd"] {
            let bad = data.replacen(&src.print(&a), evil, 1);
            let e = import(&dst, &mut std::io::Cursor::new(bad.as_bytes())).unwrap_err();
            assert!(matches!(e, Error::Protocol(_)), "{evil}: {e}");
        }
        assert!(!dst.is_valid(&a).unwrap());
        assert!(!t.path().join("dst/etc/passwd").exists());
    }

    #[test]
    fn concurrent_imports_of_the_same_paths_both_succeed() {
        let t = tempfile::tempdir().unwrap();
        let (src, a, b) = source(t.path());
        let order = closure_in_order(&src, std::slice::from_ref(&b)).unwrap();
        let data = archive_of(&src, &order);
        let dst = store(&t.path().join("dst"));
        let reps: Vec<ImportReport> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| import(&dst, &mut std::io::Cursor::new(&data)).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            reps.iter().map(|r| r.imported).sum::<usize>(),
            2,
            "{reps:?}"
        );
        assert!(dst.is_valid(&a).unwrap() && dst.is_valid(&b).unwrap());
        assert!(dst.verify().unwrap().is_empty());
    }

    #[test]
    fn a_corrupted_or_incomplete_stream_registers_nothing() {
        let t = tempfile::tempdir().unwrap();
        let (src, a, b) = source(t.path());
        let order = closure_in_order(&src, std::slice::from_ref(&b)).unwrap();
        let data = archive_of(&src, &order);
        // flip one byte of the first path's contents
        let mut bad = data.clone();
        let at = bad
            .windows(10)
            .position(|w| w == b"first path")
            .expect("contents in the stream");
        bad[at] = b'F';
        let dst = store(&t.path().join("dst"));
        let e = import(&dst, &mut std::io::Cursor::new(&bad)).unwrap_err();
        assert!(matches!(e, Error::Integrity(_)), "{e}");
        assert!(!dst.is_valid(&a).unwrap() && !dst.is_valid(&b).unwrap());
        // cut short
        let e = import(&dst, &mut std::io::Cursor::new(&data[..data.len() - 30])).unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e}");
        assert!(!dst.is_valid(&a).unwrap());
        // a path whose reference is neither there nor sent
        let only_b = archive_of(&src, &order[1..]);
        let e = import(&dst, &mut std::io::Cursor::new(&only_b)).unwrap_err();
        assert!(
            e.to_string().contains("neither in this host's store"),
            "{e}"
        );
        assert!(!dst.is_valid(&b).unwrap());
    }
}
