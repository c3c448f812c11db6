//! Computing a flake's lock: every input path (`hy3`, `hy3/hyprland`, …)
//! gets a locked node or a `follows` edge.
//!
//! The rules (those of C++ Nix):
//! - an input whose reference is unchanged since the old lock keeps its
//!   locked node, and its subtree is reused without fetching unless an
//!   update was asked for below it;
//! - a new or changed input is fetched and its `flake.nix` read; its own
//!   `flake.lock`, if any, guides the locks of its inputs;
//! - overrides (`inputs.a.inputs.b… = …`) apply at any depth, the
//!   outermost flake winning; `follows` paths are relative to the flake
//!   that wrote them and are stored from the root;
//! - every `follows` must lead to an existing input;
//! - the `ox` input and relative `path:` inputs are re-resolved every
//!   time (the running ox; the declaring flake's current tree).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ox_eval::Eval;

use crate::decl::{read_flake, InputSpec};
use crate::fetch::Fetcher;
use crate::flakeref::FlakeRef;
use crate::lockfile::{Edge, LockFile, TreeEdge, TreeNode};
use crate::Error;

#[derive(Clone)]
struct Override {
    spec: InputSpec,
    /// The input path of the flake that wrote it (for its `follows`).
    origin: Vec<String>,
}

/// A node of an older lock (the flake's previous lock, or an input's own
/// `flake.lock`, whose follows paths start at `prefix`).
#[derive(Clone, Copy)]
struct Old<'a> {
    lock: &'a LockFile,
    key: &'a str,
    prefix: &'a [String],
}

pub struct Locker<'a> {
    pub fetcher: &'a mut Fetcher,
    pub ev: &'a mut Eval,
    /// Input paths to re-resolve (`ox flake update a b/c`).
    pub updates: Vec<Vec<String>>,
    overrides: HashMap<Vec<String>, Override>,
}

impl<'a> Locker<'a> {
    pub fn new(fetcher: &'a mut Fetcher, ev: &'a mut Eval, updates: Vec<Vec<String>>) -> Self {
        Locker {
            fetcher,
            ev,
            updates,
            overrides: HashMap::new(),
        }
    }

    /// Lock the flake whose (store) directory is `dir` and whose inputs
    /// are `inputs`, against `old`.
    pub fn lock(
        &mut self,
        inputs: &BTreeMap<String, InputSpec>,
        dir: &Path,
        old: Option<&LockFile>,
    ) -> Result<LockFile, Error> {
        let mut root = TreeNode {
            locked: None,
            original: None,
            flake: true,
            inputs: BTreeMap::new(),
        };
        let empty: Vec<String> = Vec::new();
        let old = old.map(|l| Old {
            lock: l,
            key: l.root.as_str(),
            prefix: &empty,
        });
        self.compute(&mut root, inputs, &[], old, Some(dir))?;
        let lock = LockFile::from_tree(&root);
        check_follows(&lock)?;
        Ok(lock)
    }

    fn compute(
        &mut self,
        node: &mut TreeNode,
        inputs: &BTreeMap<String, InputSpec>,
        prefix: &[String],
        old: Option<Old<'_>>,
        flake_dir: Option<&Path>,
    ) -> Result<(), Error> {
        // Register the overrides this flake makes; outer flakes were
        // processed first, so theirs win.
        for (id, spec) in inputs {
            let mut p = prefix.to_vec();
            p.push(id.clone());
            self.register_overrides(&p, &spec.overrides, prefix);
        }
        for (id, spec) in inputs {
            let mut path = prefix.to_vec();
            path.push(id.clone());
            let ov = self.overrides.get(&path).cloned();
            let ov_ref = ov.as_ref().and_then(|o| o.spec.reference.clone());
            let ov_follows = ov
                .as_ref()
                .and_then(|o| o.spec.follows.clone().map(|f| (f, o.origin.clone())));
            // What the effective declaration is.
            let follows = match (&ov_ref, ov_follows) {
                (Some(_), _) => None,
                (None, Some(f)) => Some(f),
                (None, None) => spec.follows.clone().map(|f| (f, prefix.to_vec())),
            };
            if let Some((f, origin)) = follows {
                let mut abs = origin;
                abs.extend(f);
                node.inputs.insert(id.clone(), TreeEdge::Follows(abs));
                continue;
            }
            let reference = ov_ref
                .clone()
                .or_else(|| spec.reference.clone())
                .unwrap_or_else(|| FlakeRef::new("indirect").with("id", id.as_str()));
            let is_flake = ov
                .as_ref()
                .and_then(|o| o.spec.flake)
                .or(spec.flake)
                .unwrap_or(true);
            let old_child: Option<(&LockFile, String, Vec<String>)> =
                old.and_then(|o| match o.lock.nodes.get(o.key)?.inputs.get(id)? {
                    Edge::Node(k) => Some((o.lock, k.clone(), o.prefix.to_vec())),
                    Edge::Follows(_) => None,
                });
            let is_ox = matches!(reference.kind(), "ox")
                || (reference.kind() == "indirect" && reference.str("id") == Some("ox"));
            let updated = self.updates.iter().any(|u| u == &path);
            // The ox input is always the running ox; a relative path is
            // part of the declaring flake's tree, so it follows that tree
            // (an edit under ./vendor shows up without `ox flake update`).
            let always_fresh = is_ox || (reference.is_relative_path() && flake_dir.is_some());
            let reusable = old_child.as_ref().and_then(|(l, k, _)| {
                let n = l.nodes.get(k)?;
                (n.original.as_ref() == Some(&reference) && n.flake == is_flake).then_some(n)
            });
            let child = match (reusable, updated || always_fresh) {
                (Some(oldn), false) => {
                    let (olock, okey, oprefix) = old_child.clone().expect("reusable implies old");
                    let mut child = TreeNode {
                        locked: oldn.locked.clone(),
                        original: oldn.original.clone(),
                        flake: oldn.flake,
                        inputs: BTreeMap::new(),
                    };
                    // Re-read the input's flake.nix when an update below it
                    // was asked for, or when its source is already in the
                    // store (cheap, and its own follows stay right); only an
                    // input that would need the network is reused blindly.
                    let cached = match oldn.locked.as_ref().and_then(|l| l.str("narHash")) {
                        Some(h) => self.fetcher.store.lookup(h)?.is_some(),
                        None => false,
                    };
                    let mut must_refetch = cached
                        || self
                            .updates
                            .iter()
                            .any(|u| u.len() > path.len() && u.starts_with(&path));
                    let mut fake = BTreeMap::new();
                    if !must_refetch {
                        for (cid, e) in &oldn.inputs {
                            let mut cpath = path.clone();
                            cpath.push(cid.clone());
                            match e {
                                Edge::Node(k) => {
                                    let n = &olock.nodes[k];
                                    fake.insert(
                                        cid.clone(),
                                        InputSpec {
                                            reference: n.original.clone(),
                                            flake: Some(n.flake),
                                            ..Default::default()
                                        },
                                    );
                                }
                                Edge::Follows(p) => {
                                    let ok = self
                                        .overrides
                                        .get(&cpath)
                                        .is_some_and(|o| o.spec.follows.is_some());
                                    if !ok {
                                        // Written by the input itself: re-read it.
                                        must_refetch = true;
                                        break;
                                    }
                                    fake.insert(
                                        cid.clone(),
                                        InputSpec {
                                            follows: Some(p.clone()),
                                            ..Default::default()
                                        },
                                    );
                                }
                            }
                        }
                    }
                    let old_here = Old {
                        lock: olock,
                        key: &okey,
                        prefix: &oprefix,
                    };
                    if must_refetch && child.flake {
                        let locked = child.locked.clone().expect("non-root nodes are locked");
                        let fetched = self.fetcher.fetch(&locked, flake_dir)?;
                        let fdir = fetched.flake_dir();
                        let decl = read_flake(self.ev, &fdir)?;
                        self.compute(&mut child, &decl.inputs, &path, Some(old_here), Some(&fdir))?;
                    } else if child.flake {
                        self.compute(&mut child, &fake, &path, Some(old_here), None)?;
                    }
                    child
                }
                _ => {
                    let fetched = self.fetcher.fetch(&reference, flake_dir)?;
                    let mut child = TreeNode {
                        locked: Some(fetched.locked.clone()),
                        original: Some(reference.clone()),
                        flake: is_flake,
                        inputs: BTreeMap::new(),
                    };
                    if is_ox {
                        // The ox input is not a flake.nix; it has no inputs.
                        child.flake = true;
                    } else if is_flake {
                        let fdir = fetched.flake_dir();
                        let decl = read_flake(self.ev, &fdir)?;
                        // Guide the subtree by the old lock (an update of
                        // this input keeps its children's pins) or else
                        // by the input's own flake.lock.
                        let own = if old_child.is_none() {
                            load_dep_lock(&fdir)?
                        } else {
                            None
                        };
                        let guide = match (&old_child, &own) {
                            (Some((ol, ok, op)), _) => Some(Old {
                                lock: ol,
                                key: ok,
                                prefix: op,
                            }),
                            (None, Some(dep)) => Some(Old {
                                lock: dep,
                                key: &dep.root,
                                prefix: &path,
                            }),
                            _ => None,
                        };
                        self.compute(&mut child, &decl.inputs, &path, guide, Some(&fdir))?;
                    }
                    child
                }
            };
            node.inputs
                .insert(id.clone(), TreeEdge::Node(Box::new(child)));
        }
        Ok(())
    }

    fn register_overrides(
        &mut self,
        at: &[String],
        overrides: &BTreeMap<String, InputSpec>,
        origin: &[String],
    ) {
        for (cid, spec) in overrides {
            let mut p = at.to_vec();
            p.push(cid.clone());
            self.overrides.entry(p.clone()).or_insert_with(|| Override {
                spec: InputSpec {
                    overrides: BTreeMap::new(),
                    ..spec.clone()
                },
                origin: origin.to_vec(),
            });
            self.register_overrides(&p, &spec.overrides, origin);
        }
    }
}

fn load_dep_lock(dir: &Path) -> Result<Option<LockFile>, Error> {
    let f: PathBuf = dir.join("flake.lock");
    match std::fs::read_to_string(&f) {
        Ok(t) => Ok(Some(LockFile::parse(&t, &f.display().to_string())?)),
        Err(_) => Ok(None),
    }
}

/// Every `follows` must lead somewhere.
pub fn check_follows(lock: &LockFile) -> Result<(), Error> {
    for (path, e) in lock.input_paths() {
        if let Edge::Follows(target) = e {
            if lock.resolve_path(&target).is_none() {
                return Err(Error::Follows {
                    input: path.join("/"),
                    target: target.join("/"),
                });
            }
        }
    }
    Ok(())
}
