//! An in-memory file tree (what a store path will contain), written to
//! disk in one go and hashed as a NAR.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { data: Vec<u8>, executable: bool },
    Symlink(String),
}

/// Paths are relative, `/`-separated, without `.`/`..` components;
/// directories are implied by the files below them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<String, Node>,
}

impl Tree {
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds `node` at `path`; the same path twice is an error unless the
    /// contents are equal (NixOS: "duplicate entry … with different source").
    pub fn insert(&mut self, path: &str, node: Node, what: &str) -> Result<(), Error> {
        let path = normalize(path).ok_or_else(|| Error::Invalid {
            option: what.to_string(),
            expected: "a relative path without `..` components".into(),
            found: path.to_string(),
        })?;
        // a file where a directory is needed (or the other way) would
        // make the tree unwritable
        for (i, _) in path.match_indices('/') {
            if self.entries.contains_key(&path[..i]) {
                return Err(Error::Conflict {
                    path: path.clone(),
                    detail: format!("`{}` is a file, not a directory ({what})", &path[..i]),
                });
            }
        }
        let prefix = format!("{path}/");
        if self
            .entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
        {
            return Err(Error::Conflict {
                path: path.clone(),
                detail: format!("a directory is already there ({what})"),
            });
        }
        match self.entries.get(&path) {
            Some(old) if *old != node => Err(Error::Conflict {
                path,
                detail: format!("defined twice with different contents ({what})"),
            }),
            _ => {
                self.entries.insert(path, node);
                Ok(())
            }
        }
    }

    pub fn file(&mut self, path: &str, data: impl Into<Vec<u8>>, what: &str) -> Result<(), Error> {
        self.insert(
            path,
            Node::File {
                data: data.into(),
                executable: false,
            },
            what,
        )
    }

    pub fn symlink(&mut self, path: &str, target: &str, what: &str) -> Result<(), Error> {
        self.insert(path, Node::Symlink(target.to_string()), what)
    }

    /// Copies a file, symlink or directory from disk to `path`.
    pub fn copy_from(&mut self, path: &str, src: &Path, what: &str) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io {
            path: src.display().to_string(),
            message: e.to_string(),
        };
        let md = std::fs::symlink_metadata(src).map_err(io)?;
        if md.file_type().is_symlink() {
            let t = std::fs::read_link(src).map_err(io)?;
            self.symlink(path, &t.to_string_lossy(), what)
        } else if md.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(src)
                .map_err(io)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(io)?;
            names.sort_by_key(|e| e.file_name());
            for e in names {
                let n = e.file_name();
                let n = n.to_string_lossy();
                self.copy_from(&format!("{path}/{n}"), &e.path(), what)?;
            }
            Ok(())
        } else {
            use std::os::unix::fs::PermissionsExt;
            let data = std::fs::read(src).map_err(io)?;
            let executable = md.permissions().mode() & 0o111 != 0;
            self.insert(path, Node::File { data, executable }, what)
        }
    }

    /// Writes the tree below `dir` (which must not exist yet).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        for (p, node) in &self.entries {
            let full = dir.join(p);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match node {
                Node::File { data, executable } => {
                    std::fs::write(&full, data)?;
                    let mode = if *executable { 0o555 } else { 0o444 };
                    std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode))?;
                }
                Node::Symlink(t) => std::os::unix::fs::symlink(t, &full)?,
            }
        }
        Ok(())
    }

    /// Reads a tree back from disk (for `ox diff`).
    pub fn read_from(dir: &Path) -> Result<Tree, Error> {
        let mut t = Tree::new();
        let md = std::fs::metadata(dir).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        if !md.is_dir() {
            return Err(Error::Io {
                path: dir.display().to_string(),
                message: "not a directory".into(),
            });
        }
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| Error::Io {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let n = e.file_name().to_string_lossy().into_owned();
            t.copy_from(&n, &e.path(), "toplevel")?;
        }
        Ok(t)
    }

    /// A directory read with [`Tree::read_from`], or a single file as a
    /// tree with one entry `name`.
    pub fn read_from_any(p: &Path, name: &str) -> Result<Tree, Error> {
        if p.is_dir() {
            return Tree::read_from(p);
        }
        let mut t = Tree::new();
        t.copy_from(name, p, "store path")?;
        Ok(t)
    }

    /// Total size of the regular files' contents.
    pub fn size(&self) -> u64 {
        self.entries
            .values()
            .map(|n| match n {
                Node::File { data, .. } => data.len() as u64,
                Node::Symlink(_) => 0,
            })
            .sum()
    }
}

/// Strips leading `/` and `./`, rejects `..`.
pub fn normalize(p: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_reported() {
        let mut t = Tree::new();
        t.file("a/b", "x", "t").unwrap();
        t.file("a/b", "x", "t").unwrap();
        assert!(t.file("a/b", "y", "t").is_err());
        assert!(t.file("a/b/c", "y", "t").is_err());
        assert!(t.file("a", "y", "t").is_err());
        assert!(t.file("../x", "y", "t").is_err());
        assert_eq!(normalize("/./etc//x").as_deref(), Some("etc/x"));
    }
}
