//! NAR serialisation of an in-memory [`Tree`], byte-identical to what
//! `ox_store::nar::dump_path` produces for the same tree written to disk
//! (checked by a test), so paths can be computed before writing.

use std::collections::BTreeMap;

use crate::tree::{Node, Tree};

enum Dir<'a> {
    Leaf(&'a Node),
    Dir(BTreeMap<&'a str, Dir<'a>>),
}

fn token(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
    let pad = (8 - b.len() % 8) % 8;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn node(out: &mut Vec<u8>, d: &Dir) {
    token(out, b"(");
    match d {
        Dir::Leaf(Node::File { data, executable }) => {
            token(out, b"type");
            token(out, b"regular");
            if *executable {
                token(out, b"executable");
                token(out, b"");
            }
            token(out, b"contents");
            token(out, data);
        }
        Dir::Leaf(Node::Symlink(t)) => {
            token(out, b"type");
            token(out, b"symlink");
            token(out, b"target");
            token(out, t.as_bytes());
        }
        Dir::Dir(entries) => {
            token(out, b"type");
            token(out, b"directory");
            for (name, child) in entries {
                token(out, b"entry");
                token(out, b"(");
                token(out, b"name");
                token(out, name.as_bytes());
                token(out, b"node");
                node(out, child);
                token(out, b")");
            }
        }
    }
    token(out, b")");
}

/// The NAR of `tree` as a directory.
pub fn tree_nar(tree: &Tree) -> Vec<u8> {
    let mut root: BTreeMap<&str, Dir> = BTreeMap::new();
    for (path, n) in &tree.entries {
        let parts: Vec<&str> = path.split('/').collect();
        let mut cur = &mut root;
        for p in &parts[..parts.len() - 1] {
            let e = cur.entry(p).or_insert_with(|| Dir::Dir(BTreeMap::new()));
            cur = match e {
                Dir::Dir(m) => m,
                // Tree::insert rules out a file above another entry
                Dir::Leaf(_) => unreachable!("file used as directory"),
            };
        }
        cur.insert(parts[parts.len() - 1], Dir::Leaf(n));
    }
    let mut out = Vec::new();
    token(&mut out, b"nix-archive-1");
    node(&mut out, &Dir::Dir(root));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_dump_path() {
        let mut t = Tree::new();
        t.file("etc/hostname", "x\n", "t").unwrap();
        t.file("etc/a-b/c", "long content here!", "t").unwrap();
        t.file("etc/a/b", "", "t").unwrap();
        t.symlink("etc/l", "../x", "t").unwrap();
        t.insert(
            "bin/s",
            Node::File {
                data: b"#!/bin/sh\n".to_vec(),
                executable: true,
            },
            "t",
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        t.write_to(&p).unwrap();
        let mut disk = Vec::new();
        ox_store::dump_path(&p, &mut disk).unwrap();
        assert_eq!(disk, tree_nar(&t));
    }
}
