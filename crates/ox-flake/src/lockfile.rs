//! `flake.lock` in C++ Nix's version 7 format: a graph of nodes keyed by
//! name, each with `inputs` (a node key, or a `follows` path from the
//! root as a list of input names), `locked`/`original` references and
//! `flake = false` for non-flake inputs. Serialisation matches Nix byte
//! for byte: keys sorted, two-space indentation, a final newline, and
//! node keys allocated depth-first from the root (`c`, `c_2`, …).

use std::collections::{BTreeMap, BTreeSet};

use crate::flakeref::FlakeRef;
use crate::Error;

/// An input edge: a node key, or a `follows` path from the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edge {
    Node(String),
    Follows(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LockNode {
    pub inputs: BTreeMap<String, Edge>,
    /// `None` only for the root node.
    pub locked: Option<FlakeRef>,
    pub original: Option<FlakeRef>,
    pub flake: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockFile {
    pub nodes: BTreeMap<String, LockNode>,
    pub root: String,
}

/// A lock graph under construction, as a tree (the lock algorithm builds
/// a fresh node per input path; serialisation names them).
#[derive(Clone, Debug)]
pub struct TreeNode {
    pub locked: Option<FlakeRef>,
    pub original: Option<FlakeRef>,
    pub flake: bool,
    pub inputs: BTreeMap<String, TreeEdge>,
}

#[derive(Clone, Debug)]
pub enum TreeEdge {
    Node(Box<TreeNode>),
    Follows(Vec<String>),
}

impl LockFile {
    pub fn empty() -> LockFile {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "root".to_string(),
            LockNode {
                flake: true,
                ..Default::default()
            },
        );
        LockFile {
            nodes,
            root: "root".into(),
        }
    }

    pub fn root_node(&self) -> &LockNode {
        &self.nodes[&self.root]
    }

    pub fn parse(text: &str, file: &str) -> Result<LockFile, Error> {
        let bad = |why: String| Error::BadLock {
            file: file.to_string(),
            why,
        };
        let j: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {}", e)))?;
        let version = j.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if !(5..=7).contains(&version) {
            return Err(bad(format!(
                "unsupported lock file version {} (ox reads versions 5 to 7)",
                version
            )));
        }
        let root = j
            .get("root")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("missing 'root'".into()))?
            .to_string();
        let jnodes = j
            .get("nodes")
            .and_then(|v| v.as_object())
            .ok_or_else(|| bad("missing 'nodes'".into()))?;
        let mut nodes = BTreeMap::new();
        for (key, n) in jnodes {
            let mut node = LockNode {
                flake: n.get("flake").and_then(|f| f.as_bool()).unwrap_or(true),
                ..Default::default()
            };
            if let Some(inputs) = n.get("inputs").and_then(|i| i.as_object()) {
                for (name, e) in inputs {
                    let edge = match e {
                        serde_json::Value::String(s) => Edge::Node(s.clone()),
                        serde_json::Value::Array(a) => Edge::Follows(
                            a.iter()
                                .map(|x| x.as_str().map(str::to_string))
                                .collect::<Option<Vec<_>>>()
                                .ok_or_else(|| {
                                    bad(format!(
                                        "node '{}': input '{}': bad follows path",
                                        key, name
                                    ))
                                })?,
                        ),
                        _ => {
                            return Err(bad(format!(
                                "node '{}': input '{}' is malformed",
                                key, name
                            )))
                        }
                    };
                    node.inputs.insert(name.clone(), edge);
                }
            }
            for (field, slot) in [
                ("locked", &mut node.locked),
                ("original", &mut node.original),
            ] {
                if let Some(v) = n.get(field) {
                    *slot = Some(
                        FlakeRef::from_json(v)
                            .map_err(|e| bad(format!("node '{}': '{}': {}", key, field, e)))?,
                    );
                }
            }
            if key != &root && (node.locked.is_none() || node.original.is_none()) {
                return Err(bad(format!("node '{}' lacks 'locked' or 'original'", key)));
            }
            nodes.insert(key.clone(), node);
        }
        if !nodes.contains_key(&root) {
            return Err(bad(format!("root node '{}' does not exist", root)));
        }
        for (key, n) in &nodes {
            for (name, e) in &n.inputs {
                if let Edge::Node(k) = e {
                    if !nodes.contains_key(k) {
                        return Err(bad(format!(
                            "node '{}': input '{}' refers to missing node '{}'",
                            key, name, k
                        )));
                    }
                }
            }
        }
        Ok(LockFile { nodes, root })
    }

    /// The JSON text Nix writes (sorted keys, 2-space indent, newline).
    pub fn to_json_string(&self) -> String {
        let mut nodes = serde_json::Map::new();
        for (key, n) in &self.nodes {
            let mut o = serde_json::Map::new();
            // Insert in sorted key order: flake < inputs < locked < original.
            if !n.flake {
                o.insert("flake".into(), serde_json::Value::Bool(false));
            }
            if !n.inputs.is_empty() {
                let mut ins = serde_json::Map::new();
                for (name, e) in &n.inputs {
                    let v = match e {
                        Edge::Node(k) => serde_json::Value::String(k.clone()),
                        Edge::Follows(p) => serde_json::Value::Array(
                            p.iter()
                                .map(|x| serde_json::Value::String(x.clone()))
                                .collect(),
                        ),
                    };
                    ins.insert(name.clone(), v);
                }
                o.insert("inputs".into(), serde_json::Value::Object(ins));
            }
            if let Some(l) = &n.locked {
                o.insert("locked".into(), l.to_json());
            }
            if let Some(l) = &n.original {
                o.insert("original".into(), l.to_json());
            }
            nodes.insert(key.clone(), serde_json::Value::Object(o));
        }
        let mut top = serde_json::Map::new();
        top.insert("nodes".into(), serde_json::Value::Object(nodes));
        top.insert("root".into(), serde_json::Value::String(self.root.clone()));
        top.insert("version".into(), serde_json::Value::from(7u64));
        let mut s = serde_json::to_string_pretty(&serde_json::Value::Object(top))
            .expect("JSON of strings and numbers always serialises");
        s.push('\n');
        s
    }

    /// Name the nodes of a tree the way Nix does: depth-first from the
    /// root in input-name order, the first node reached by input `x` is
    /// `x`, later ones `x_2`, `x_3`, ….
    pub fn from_tree(root: &TreeNode) -> LockFile {
        fn dump(
            key: &str,
            n: &TreeNode,
            used: &mut BTreeSet<String>,
            nodes: &mut BTreeMap<String, LockNode>,
        ) -> String {
            let mut key = key.to_string();
            if !used.insert(key.clone()) {
                let mut i = 2;
                loop {
                    let k = format!("{}_{}", key, i);
                    if used.insert(k.clone()) {
                        key = k;
                        break;
                    }
                    i += 1;
                }
            }
            let mut ln = LockNode {
                locked: n.locked.clone(),
                original: n.original.clone(),
                flake: n.flake,
                inputs: BTreeMap::new(),
            };
            for (name, e) in &n.inputs {
                let edge = match e {
                    TreeEdge::Node(c) => Edge::Node(dump(name, c, used, nodes)),
                    TreeEdge::Follows(p) => Edge::Follows(p.clone()),
                };
                ln.inputs.insert(name.clone(), edge);
            }
            nodes.insert(key.clone(), ln);
            key
        }
        let mut used = BTreeSet::new();
        let mut nodes = BTreeMap::new();
        let root_key = dump("root", root, &mut used, &mut nodes);
        LockFile {
            nodes,
            root: root_key,
        }
    }

    /// Follow an input path from the root (resolving `follows` on the
    /// way, as evaluation does) to a node key.
    pub fn resolve_path(&self, path: &[String]) -> Option<String> {
        self.resolve_path_depth(path, 0)
    }

    fn resolve_path_depth(&self, path: &[String], depth: usize) -> Option<String> {
        if depth > 64 {
            return None; // a follows cycle
        }
        let mut key = self.root.clone();
        for name in path {
            let node = self.nodes.get(&key)?;
            key = match node.inputs.get(name)? {
                Edge::Node(k) => k.clone(),
                Edge::Follows(p) => self.resolve_path_depth(p, depth + 1)?,
            };
        }
        Some(key)
    }

    /// Every input path of the graph with the node it reaches directly
    /// (not through follows), depth-first: used to describe changes.
    pub fn input_paths(&self) -> Vec<(Vec<String>, Edge)> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.clone(), Vec::<String>::new())];
        let mut seen = BTreeSet::new();
        while let Some((key, prefix)) = stack.pop() {
            if !seen.insert((key.clone(), prefix.clone())) || prefix.len() > 32 {
                continue;
            }
            if let Some(n) = self.nodes.get(&key) {
                for (name, e) in n.inputs.iter().rev() {
                    let mut p = prefix.clone();
                    p.push(name.clone());
                    out.push((p.clone(), e.clone()));
                    if let Edge::Node(k) = e {
                        stack.push((k.clone(), p));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
