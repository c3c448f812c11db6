//! Loading a toplevel: its `activation.json` and `ox-system.json`
//! (docs/toplevel.md; the types are `ox_plan`'s, re-exported here).

use std::path::{Path, PathBuf};

pub use ox_plan::{
    EtcEntry, Group, Home, HomeActivation, HomeFile, Manifest, OnConflict, Package, Plan, Secrets,
    User,
};

use crate::Error;

/// A toplevel store path with its parsed plan. The etc set is the union
/// of `activation.json`'s `etc` list and every leaf under `$T/etc` (a
/// leaf not listed is a plain symlink entry), so units and their
/// `.wants` links are managed whether or not the builder lists them.
#[derive(Clone, Debug)]
pub struct Toplevel {
    pub path: PathBuf,
    pub plan: Plan,
    pub manifest: Manifest,
}

impl Toplevel {
    /// Load and check `$T/activation.json` and `$T/ox-system.json`.
    pub fn load(path: &Path) -> Result<Toplevel, Error> {
        let path = path.to_path_buf();
        let read = |name: &str| -> Result<String, Error> {
            let p = path.join(name);
            std::fs::read_to_string(&p).map_err(|e| Error::Plan {
                path: p.clone(),
                msg: format!("cannot read ({e}); is {} an ox toplevel?", path.display()),
            })
        };
        let plan: Plan =
            serde_json::from_str(&read("activation.json")?).map_err(|e| Error::Plan {
                path: path.join("activation.json"),
                msg: e.to_string(),
            })?;
        if plan.format_version != 1 {
            return Err(Error::Plan {
                path: path.join("activation.json"),
                msg: format!(
                    "formatVersion {} is not supported (expected 1)",
                    plan.format_version
                ),
            });
        }
        let manifest: Manifest = match std::fs::read_to_string(path.join("ox-system.json")) {
            Ok(s) => serde_json::from_str(&s).map_err(|e| Error::Plan {
                path: path.join("ox-system.json"),
                msg: e.to_string(),
            })?,
            Err(_) => Manifest::default(),
        };
        let mut t = Toplevel {
            path,
            plan,
            manifest,
        };
        t.add_implicit_etc()?;
        Ok(t)
    }

    fn add_implicit_etc(&mut self) -> Result<(), Error> {
        let listed: std::collections::BTreeSet<String> =
            self.plan.etc.iter().map(|e| e.target.clone()).collect();
        let mut leaves = Vec::new();
        walk_leaves(&self.path.join("etc"), "", &mut leaves);
        for rel in leaves {
            if !listed.contains(&rel) {
                self.plan.etc.push(EtcEntry {
                    source: format!("etc/{rel}"),
                    target: rel,
                    mode: "symlink".into(),
                    user: "root".into(),
                    group: "root".into(),
                    on_conflict: OnConflict::Error,
                });
            }
        }
        self.plan.etc.sort_by(|a, b| a.target.cmp(&b.target));
        for e in &self.plan.etc {
            if e.target.is_empty()
                || e.target.starts_with('/')
                || e.target.split('/').any(|c| c == ".." || c == ".")
            {
                return Err(Error::Plan {
                    path: self.path.join("activation.json"),
                    msg: format!(
                        "etc target `{}` must be a relative path below /etc",
                        e.target
                    ),
                });
            }
            if e.mode != "symlink" && u32::from_str_radix(&e.mode, 8).is_err() {
                return Err(Error::Plan {
                    path: self.path.join("activation.json"),
                    msg: format!(
                        "etc.`{}`.mode is `{}`; expected \"symlink\" or an octal mode like \"0644\"",
                        e.target, e.mode
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn host_name(&self) -> &str {
        if self.plan.host_name.is_empty() {
            &self.manifest.host_name
        } else {
            &self.plan.host_name
        }
    }
}

fn walk_leaves(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut ents: Vec<_> = rd.flatten().collect();
    ents.sort_by_key(|e| e.file_name());
    for e in ents {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        match e.file_type() {
            Ok(t) if t.is_dir() => walk_leaves(&e.path(), &rel, out),
            Ok(_) => out.push(rel),
            Err(_) => {}
        }
    }
}
