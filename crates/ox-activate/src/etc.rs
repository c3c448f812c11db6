//! Managed file trees: /etc (and, with the same rules, home files).
//!
//! A path is ox's when the state file says ox wrote it and it still
//! holds exactly what ox wrote. Only such paths are updated or removed;
//! anything else in the way is a conflict, resolved per `onConflict`
//! before any change is made.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plan::{OnConflict, Toplevel};
use crate::state::Owned;
use crate::{io_err, symlink_atomic, Error, Paths};

#[derive(Clone, Debug, PartialEq)]
pub enum Desired {
    Symlink {
        dest: String,
    },
    Copy {
        src: PathBuf,
        sha256: String,
        mode: u32,
        user: String,
        group: String,
    },
}

impl Desired {
    fn owned(&self) -> Owned {
        match self {
            Desired::Symlink { dest } => Owned::Symlink { dest: dest.clone() },
            Desired::Copy { sha256, .. } => Owned::Copy {
                sha256: sha256.clone(),
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Create(String, Desired),
    Update(String, Desired),
    /// Move the unmanaged file to `<path>.ox-backup`, then create.
    Backup(String, Desired),
    /// Overwrite an unmanaged file.
    Replace(String, Desired),
    Remove(String),
    /// Was ox's, but someone changed it: left alone and forgotten.
    Abandon(String),
}

/// The changes to one tree, computed before anything is touched.
#[derive(Clone, Debug, Default)]
pub struct TreeChanges {
    pub ops: Vec<Op>,
    pub conflicts: Vec<String>,
    /// The ownership records after applying.
    pub owned: BTreeMap<String, Owned>,
}

pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha256_file(p: &Path) -> Option<String> {
    let data = std::fs::read(p).ok()?;
    Some(hex::encode(Sha256::digest(&data)))
}

enum Current {
    Missing,
    Symlink(String),
    File {
        sha256: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Other(&'static str),
}

fn current(p: &Path) -> Current {
    match std::fs::symlink_metadata(p) {
        Err(_) => Current::Missing,
        Ok(m) if m.file_type().is_symlink() => Current::Symlink(
            std::fs::read_link(p)
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        Ok(m) if m.is_file() => Current::File {
            sha256: sha256_file(p).unwrap_or_default(),
            mode: m.permissions().mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        },
        Ok(m) if m.is_dir() => Current::Other("a directory"),
        Ok(_) => Current::Other("a special file"),
    }
}

/// Compare a tree rooted at `base` with what is desired.
/// `ours_prefix`: a symlink pointing below it is ox's even without a
/// record (e.g. links into /etc/ox-static left by an interrupted run).
pub fn plan_tree(
    base: &Path,
    desired: &BTreeMap<String, (Desired, OnConflict)>,
    owned: &BTreeMap<String, Owned>,
    ids: &Ids,
    ours_prefix: Option<&str>,
    label: &str,
) -> TreeChanges {
    let mut ch = TreeChanges::default();
    for (rel, (want, on_conflict)) in desired {
        let p = base.join(rel);
        let cur = current(&p);
        let matches = match (&cur, want) {
            (Current::Symlink(d), Desired::Symlink { dest }) => d == dest,
            (
                Current::File {
                    sha256,
                    mode,
                    uid,
                    gid,
                },
                Desired::Copy {
                    sha256: s,
                    mode: m,
                    user,
                    group,
                    ..
                },
            ) => {
                sha256 == s
                    && mode == m
                    && Some(*uid) == ids.uid(user)
                    && Some(*gid) == ids.gid(group)
            }
            _ => false,
        };
        ch.owned.insert(rel.clone(), want.owned());
        if matches {
            continue;
        }
        let is_ours = match (&cur, owned.get(rel)) {
            (Current::Missing, _) => {
                ch.ops.push(Op::Create(rel.clone(), want.clone()));
                continue;
            }
            (Current::Symlink(d), Some(Owned::Symlink { dest })) => d == dest,
            (Current::File { sha256, .. }, Some(Owned::Copy { sha256: s })) => sha256 == s,
            (Current::Symlink(d), _) => ours_prefix.is_some_and(|pre| d.starts_with(pre)),
            _ => false,
        };
        if is_ours {
            ch.ops.push(Op::Update(rel.clone(), want.clone()));
            continue;
        }
        let what = match &cur {
            Current::Symlink(d) => format!("a symlink to {d}"),
            Current::File { .. } if owned.contains_key(rel) => {
                "a file changed since ox wrote it".to_string()
            }
            Current::File { .. } => "an unmanaged file".to_string(),
            Current::Other(w) => w.to_string(),
            Current::Missing => unreachable!(),
        };
        match (on_conflict, &cur) {
            (OnConflict::Backup, _) => ch.ops.push(Op::Backup(rel.clone(), want.clone())),
            (OnConflict::Replace, Current::Other(_)) | (OnConflict::Error, _) => {
                ch.owned.remove(rel);
                ch.conflicts
                    .push(format!("{label}{rel}: {what} is in the way"));
            }
            (OnConflict::Replace, _) => ch.ops.push(Op::Replace(rel.clone(), want.clone())),
        }
    }
    for (rel, rec) in owned {
        if desired.contains_key(rel) {
            continue;
        }
        let p = base.join(rel);
        let still = match (current(&p), rec) {
            (Current::Missing, _) => continue,
            (Current::Symlink(d), Owned::Symlink { dest }) => &d == dest,
            (Current::File { sha256, .. }, Owned::Copy { sha256: s }) => &sha256 == s,
            _ => false,
        };
        ch.ops.push(if still {
            Op::Remove(rel.clone())
        } else {
            Op::Abandon(rel.clone())
        });
    }
    ch
}

/// The desired /etc tree of a toplevel.
pub fn desired_etc(t: &Toplevel) -> Result<BTreeMap<String, (Desired, OnConflict)>, Error> {
    let mut m = BTreeMap::new();
    for e in &t.plan.etc {
        let d = if e.mode == "symlink" {
            let dest = match e.source.strip_prefix("etc/") {
                // through the flip link, so one rename switches them all
                Some(rest) => format!("/etc/ox-static/{rest}"),
                None => t.path.join(&e.source).to_string_lossy().into_owned(),
            };
            Desired::Symlink { dest }
        } else {
            let src = t.path.join(&e.source);
            let sha256 = sha256_file(&src).ok_or_else(|| Error::Plan {
                path: t.path.join("activation.json"),
                msg: format!(
                    "etc.`{}`: source {} is not a readable file",
                    e.target,
                    src.display()
                ),
            })?;
            Desired::Copy {
                src,
                sha256,
                mode: u32::from_str_radix(&e.mode, 8).unwrap_or(0o644),
                user: e.user.clone(),
                group: e.group.clone(),
            }
        };
        m.insert(e.target.clone(), (d, e.on_conflict));
    }
    Ok(m)
}

/// Name → id maps read from a root's /etc/passwd and /etc/group.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    pub users: BTreeMap<String, (u32, u32, String)>,
    pub groups: BTreeMap<String, u32>,
}

impl Ids {
    pub fn read(p: &Paths) -> Ids {
        let mut ids = Ids::default();
        for l in std::fs::read_to_string(p.at("/etc/passwd"))
            .unwrap_or_default()
            .lines()
        {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 7 {
                if let (Ok(u), Ok(g)) = (f[2].parse(), f[3].parse()) {
                    ids.users.insert(f[0].to_string(), (u, g, f[5].to_string()));
                }
            }
        }
        for l in std::fs::read_to_string(p.at("/etc/group"))
            .unwrap_or_default()
            .lines()
        {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 3 {
                if let Ok(g) = f[2].parse() {
                    ids.groups.insert(f[0].to_string(), g);
                }
            }
        }
        ids
    }
    pub fn uid(&self, name: &str) -> Option<u32> {
        name.strip_prefix('+')
            .and_then(|n| n.parse().ok())
            .or_else(|| self.users.get(name).map(|u| u.0))
    }
    pub fn gid(&self, name: &str) -> Option<u32> {
        name.strip_prefix('+')
            .and_then(|n| n.parse().ok())
            .or_else(|| self.groups.get(name).copied())
    }
}

fn lchown(p: &Path, uid: u32, gid: u32) -> Result<(), Error> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).map_err(io_err(p))
}

/// Apply one tree's operations (after the flip for /etc). `owner`:
/// (uid, gid) for created symlinks and parent dirs (home trees).
pub fn apply_tree(
    base: &Path,
    ops: &[Op],
    ids: &Ids,
    owner: Option<(u32, u32)>,
) -> Result<(), Error> {
    for op in ops {
        match op {
            Op::Create(rel, d) | Op::Update(rel, d) | Op::Replace(rel, d) => {
                write_entry(&base.join(rel), d, ids, owner, base)?
            }
            Op::Backup(rel, d) => {
                let p = base.join(rel);
                let bak = PathBuf::from(format!("{}.ox-backup", p.display()));
                std::fs::rename(&p, &bak).map_err(io_err(&p))?;
                write_entry(&p, d, ids, owner, base)?;
            }
            Op::Remove(rel) => {
                let p = base.join(rel);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&p)(e)),
                }
                // tidy directories that only held our entries
                let mut dir = p.parent();
                while let Some(d) = dir {
                    if d == base || std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
            Op::Abandon(_) => {}
        }
    }
    Ok(())
}

fn mkdirs(dir: &Path, base: &Path, owner: Option<(u32, u32)>) -> Result<(), Error> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent != base {
            mkdirs(parent, base, owner)?;
        }
    }
    std::fs::create_dir(dir).map_err(io_err(dir))?;
    if let Some((u, g)) = owner {
        lchown(dir, u, g)?;
    }
    Ok(())
}

fn write_entry(
    p: &Path,
    d: &Desired,
    ids: &Ids,
    owner: Option<(u32, u32)>,
    base: &Path,
) -> Result<(), Error> {
    if let Some(dir) = p.parent() {
        mkdirs(dir, base, owner)?;
    }
    match d {
        Desired::Symlink { dest } => {
            symlink_atomic(Path::new(dest), p)?;
            if let Some((u, g)) = owner {
                lchown(p, u, g)?;
            }
        }
        Desired::Copy {
            src,
            mode,
            user,
            group,
            ..
        } => {
            let uid = ids.uid(user).ok_or_else(|| {
                Error::Other(format!("{}: user `{user}` does not exist", p.display()))
            })?;
            let gid = ids.gid(group).ok_or_else(|| {
                Error::Other(format!("{}: group `{group}` does not exist", p.display()))
            })?;
            let tmp = PathBuf::from(format!("{}.ox-tmp-{}", p.display(), std::process::id()));
            std::fs::copy(src, &tmp).map_err(io_err(&tmp))?;
            // chown before chmod: chown clears setuid bits
            lchown(&tmp, uid, gid)?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(*mode))
                .map_err(io_err(&tmp))?;
            std::fs::rename(&tmp, p).map_err(io_err(p))?;
        }
    }
    Ok(())
}

/// One line per change, for dry-activate and the switch log.
pub fn describe(label: &str, ops: &[Op]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            Op::Create(r, _) => format!("create {label}{r}"),
            Op::Update(r, _) => format!("update {label}{r}"),
            Op::Backup(r, _) => {
                format!("back up {label}{r} to {label}{r}.ox-backup, then create it")
            }
            Op::Replace(r, _) => format!("replace unmanaged {label}{r}"),
            Op::Remove(r) => format!("remove {label}{r}"),
            Op::Abandon(r) => format!("forget {label}{r} (changed by someone else; left in place)"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ox-etc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn link(dest: &str) -> (Desired, OnConflict) {
        (Desired::Symlink { dest: dest.into() }, OnConflict::Error)
    }

    #[test]
    fn ownership_rules() {
        let base = tmp("own");
        std::fs::write(base.join("unmanaged"), "x").unwrap();
        std::os::unix::fs::symlink("/old", base.join("ours")).unwrap();
        std::os::unix::fs::symlink("/changed", base.join("touched")).unwrap();
        std::os::unix::fs::symlink("/gone", base.join("stale")).unwrap();
        let mut owned = BTreeMap::new();
        for (k, d) in [("ours", "/old"), ("touched", "/orig"), ("stale", "/gone")] {
            owned.insert(k.to_string(), Owned::Symlink { dest: d.into() });
        }
        let mut want = BTreeMap::new();
        want.insert("ours".to_string(), link("/new"));
        want.insert("fresh/deep".to_string(), link("/x"));
        want.insert("unmanaged".to_string(), link("/y"));
        let ids = Ids::default();
        let ch = plan_tree(&base, &want, &owned, &ids, None, "/etc/");
        assert_eq!(
            ch.conflicts,
            vec!["/etc/unmanaged: an unmanaged file is in the way"]
        );
        assert!(ch
            .ops
            .contains(&Op::Update("ours".into(), want["ours"].0.clone())));
        assert!(ch.ops.contains(&Op::Create(
            "fresh/deep".into(),
            want["fresh/deep"].0.clone()
        )));
        assert!(ch.ops.contains(&Op::Remove("stale".into())));
        assert!(ch.ops.contains(&Op::Abandon("touched".into())));

        // backup moves the unmanaged file aside
        want.insert(
            "unmanaged".to_string(),
            (want["unmanaged"].0.clone(), OnConflict::Backup),
        );
        let ch = plan_tree(&base, &want, &owned, &ids, None, "/etc/");
        assert!(ch.conflicts.is_empty());
        apply_tree(&base, &ch.ops, &ids, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(base.join("unmanaged.ox-backup")).unwrap(),
            "x"
        );
        assert_eq!(
            std::fs::read_link(base.join("unmanaged")).unwrap(),
            Path::new("/y")
        );
        assert_eq!(
            std::fs::read_link(base.join("ours")).unwrap(),
            Path::new("/new")
        );
        assert!(
            !base.join("stale").exists() && std::fs::symlink_metadata(base.join("stale")).is_err()
        );
        assert_eq!(
            std::fs::read_link(base.join("touched")).unwrap(),
            Path::new("/changed")
        );
        // second run: nothing to do
        let ch2 = plan_tree(&base, &want, &ch.owned, &ids, None, "/etc/");
        assert!(ch2.ops.is_empty(), "{:?}", ch2.ops);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn copies_track_content() {
        let base = tmp("copy");
        let src = base.join("src");
        std::fs::write(&src, "secret").unwrap();
        let ids = Ids {
            users: [("root".to_string(), (0, 0, "/root".to_string()))].into(),
            groups: [("root".to_string(), 0)].into(),
        };
        let d = Desired::Copy {
            src: src.clone(),
            sha256: sha256_file(&src).unwrap(),
            mode: 0o400,
            user: "root".into(),
            group: "root".into(),
        };
        let mut want = BTreeMap::new();
        want.insert("t/c".to_string(), (d, OnConflict::Error));
        let ch = plan_tree(&base, &want, &BTreeMap::new(), &ids, None, "");
        apply_tree(&base, &ch.ops, &ids, None).unwrap();
        let m = std::fs::metadata(base.join("t/c")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o400);
        // someone edits the copy: no longer ours to delete
        std::fs::set_permissions(base.join("t/c"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(base.join("t/c"), "edited").unwrap();
        let ch2 = plan_tree(&base, &BTreeMap::new(), &ch.owned, &ids, None, "");
        assert_eq!(ch2.ops, vec![Op::Abandon("t/c".into())]);
        let _ = std::fs::remove_dir_all(&base);
    }
}
