//! `ox diff OLD NEW`: what changes between two built toplevels —
//! packages, /etc files (with unified diffs), units, users and groups,
//! home files, and the size of the toplevel with the paths it refers to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::plan::{Manifest, Plan};
use crate::{Error, Node, Tree};

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub packages: Changes<PackageChange>,
    pub etc: Changes<FileChange>,
    pub units: Changes<FileChange>,
    pub users: Changes<NamedChange>,
    pub groups: Changes<NamedChange>,
    pub home: Changes<FileChange>,
    /// Secrets and templates by name (contents are encrypted or
    /// placeholders: only the entries are compared).
    pub secrets: Changes<NamedChange>,
    pub size: SizeDelta,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes<T> {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<T>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Changes {
            added: vec![],
            removed: vec![],
            changed: vec![],
        }
    }
}

impl<T> Changes<T> {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageChange {
    pub name: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    pub path: String,
    /// Unified diff for text files; a one-line summary otherwise.
    pub diff: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedChange {
    pub name: String,
    /// `field: old -> new` for each changed field.
    pub fields: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SizeDelta {
    pub old: u64,
    pub new: u64,
    pub delta: i64,
}

struct Side {
    tree: Tree,
    plan: Plan,
    size: u64,
    /// The directory the toplevel is in on disk: its references are
    /// siblings there (this also holds for a store below a scratch root).
    store: Option<std::path::PathBuf>,
}

/// A referenced store path on disk: the sibling of the toplevel with the
/// same base name.
fn on_disk(store: &Option<std::path::PathBuf>, logical: &str) -> Option<std::path::PathBuf> {
    let base = logical.rsplit('/').next()?;
    let p = store.as_ref()?.join(base);
    p.symlink_metadata().is_ok().then_some(p)
}

fn dir_size(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if md.is_dir() {
        std::fs::read_dir(p)
            .map(|r| r.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0)
    } else if md.is_file() {
        md.len()
    } else {
        0
    }
}

fn load(p: &Path) -> Result<Side, Error> {
    let tree = Tree::read_from(p)?;
    let json = |name: &str| -> Result<&[u8], Error> {
        match tree.entries.get(name) {
            Some(Node::File { data, .. }) => Ok(data),
            _ => Err(Error::Io {
                path: p.join(name).display().to_string(),
                message: "missing: this is not an ox toplevel".into(),
            }),
        }
    };
    let parse_err = |name: &str, e: serde_json::Error| Error::Io {
        path: p.join(name).display().to_string(),
        message: e.to_string(),
    };
    let plan: Plan = serde_json::from_slice(json("activation.json")?)
        .map_err(|e| parse_err("activation.json", e))?;
    let manifest: Manifest = serde_json::from_slice(json("ox-system.json")?)
        .map_err(|e| parse_err("ox-system.json", e))?;
    // the paths the toplevel refers to count towards its size when they
    // are in this machine's store
    let store = std::fs::canonicalize(p)
        .ok()
        .and_then(|c| c.parent().map(Path::to_path_buf));
    let size = tree.size()
        + manifest
            .references
            .iter()
            .filter_map(|r| on_disk(&store, r))
            .map(|r| dir_size(&r))
            .sum::<u64>();
    Ok(Side {
        tree,
        plan,
        size,
        store,
    })
}

fn node_text(n: &Node) -> Option<String> {
    match n {
        Node::File { data, .. } => String::from_utf8(data.clone()).ok(),
        Node::Symlink(t) => Some(format!("symlink -> {t}\n")),
    }
}

fn file_diff(path: &str, old: &Node, new: &Node) -> String {
    match (node_text(old), node_text(new)) {
        (Some(a), Some(b)) => similar::TextDiff::from_lines(&a, &b)
            .unified_diff()
            .context_radius(3)
            .header(&format!("old/{path}"), &format!("new/{path}"))
            .to_string(),
        _ => "binary files differ\n".into(),
    }
}

/// Store paths (`<store>/<hash>-<name>…`) in the removed and added lines
/// of a unified diff, paired by name; the content diff of each pair.
fn referenced_changes(a: &Side, b: &Side, diff: &str) -> String {
    let paths = |sign: char| -> Vec<String> {
        diff.lines()
            .filter(|l| l.starts_with(sign) && !l.starts_with("---") && !l.starts_with("+++"))
            .flat_map(|l| {
                l.split(|c: char| c.is_whitespace() || c == '=' || c == '"')
                    .filter(|w| w.starts_with('/') && w.contains("/store/"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    // `<store>/<hash>-<name>/rest` → (`<store>/<hash>-<name>`, name)
    let split = |p: &str| -> Option<(String, String)> {
        let i = p.find("/store/")? + "/store/".len();
        let rest = &p[i..];
        let base = rest.split('/').next()?;
        let name = base.split_once('-')?.1.to_string();
        Some((p[..i + base.len()].to_string(), name))
    };
    let mut out = String::new();
    for o in paths('-') {
        let Some((op, oname)) = split(&o) else {
            continue;
        };
        for n in paths('+') {
            let Some((np, nname)) = split(&n) else {
                continue;
            };
            if oname != nname || op == np {
                continue;
            }
            let (Some(od), Some(nd)) = (on_disk(&a.store, &op), on_disk(&b.store, &np)) else {
                continue;
            };
            let (Ok(ot), Ok(nt)) = (
                Tree::read_from_any(&od, &oname),
                Tree::read_from_any(&nd, &nname),
            ) else {
                continue;
            };
            let c = compare_files(&ot, &nt, &|_| true, "");
            for f in c.changed {
                out.push_str(&format!("in {}:\n{}", f.path, f.diff));
            }
        }
    }
    out
}

fn is_unit(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix("etc/systemd/system/")
        .or_else(|| path.strip_prefix("etc/systemd/user/"))
    else {
        return false;
    };
    // .wants/.requires links follow their unit
    !rest.contains('/')
}

fn compare_files(
    old: &Tree,
    new: &Tree,
    select: &dyn Fn(&str) -> bool,
    strip: &str,
) -> Changes<FileChange> {
    let keys: BTreeSet<&String> = old
        .entries
        .keys()
        .chain(new.entries.keys())
        .filter(|k| select(k))
        .collect();
    let mut c = Changes::default();
    for k in keys {
        let show = k.strip_prefix(strip).unwrap_or(k).to_string();
        match (old.entries.get(k), new.entries.get(k)) {
            (None, Some(_)) => c.added.push(show),
            (Some(_), None) => c.removed.push(show),
            (Some(a), Some(b)) if a != b => c.changed.push(FileChange {
                diff: file_diff(&show, a, b),
                path: show,
            }),
            _ => {}
        }
    }
    c
}

fn compare_named<T: Serialize>(
    old: &[T],
    new: &[T],
    name: impl Fn(&T) -> &str,
) -> Changes<NamedChange> {
    let to_map = |v: &[T]| -> BTreeMap<String, serde_json::Value> {
        v.iter()
            .map(|x| {
                (
                    name(x).to_string(),
                    serde_json::to_value(x).unwrap_or_default(),
                )
            })
            .collect()
    };
    let (a, b) = (to_map(old), to_map(new));
    let mut c = Changes::default();
    for k in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        match (a.get(k), b.get(k)) {
            (None, Some(_)) => c.added.push(k.clone()),
            (Some(_), None) => c.removed.push(k.clone()),
            (Some(x), Some(y)) if x != y => {
                let mut fields = Vec::new();
                if let (Some(xo), Some(yo)) = (x.as_object(), y.as_object()) {
                    for f in xo.keys().chain(yo.keys()).collect::<BTreeSet<_>>() {
                        let (u, v) = (xo.get(f), yo.get(f));
                        if u != v {
                            let s = |o: Option<&serde_json::Value>| {
                                o.map(|v| v.to_string()).unwrap_or("(none)".into())
                            };
                            fields.push(format!("{f}: {} -> {}", s(u), s(v)));
                        }
                    }
                }
                c.changed.push(NamedChange {
                    name: k.clone(),
                    fields,
                });
            }
            _ => {}
        }
    }
    c
}

/// Compares the toplevels at `old` and `new`.
pub fn diff(old: &Path, new: &Path) -> Result<Diff, Error> {
    let a = load(old)?;
    let b = load(new)?;

    let pk = |p: &Plan| -> BTreeMap<String, String> {
        p.packages
            .iter()
            .map(|x| (x.name.clone(), x.version.clone().unwrap_or_default()))
            .collect()
    };
    let (pa, pb) = (pk(&a.plan), pk(&b.plan));
    let mut packages = Changes::default();
    for k in pa.keys().chain(pb.keys()).collect::<BTreeSet<_>>() {
        match (pa.get(k), pb.get(k)) {
            (None, Some(_)) => packages.added.push(k.clone()),
            (Some(_), None) => packages.removed.push(k.clone()),
            (Some(x), Some(y)) if x != y => packages.changed.push(PackageChange {
                name: k.clone(),
                old: x.clone(),
                new: y.clone(),
            }),
            _ => {}
        }
    }

    let etc = compare_files(
        &a.tree,
        &b.tree,
        &|p| p.starts_with("etc/") && !p.starts_with("etc/systemd/"),
        "etc/",
    );
    let mut units = compare_files(&a.tree, &b.tree, &is_unit, "etc/systemd/");
    // a changed job script or trigger file shows up as a new store path
    // in the unit: show what changed inside it
    for u in &mut units.changed {
        u.diff.push_str(&referenced_changes(&a, &b, &u.diff));
    }
    let home = compare_files(&a.tree, &b.tree, &|p| p.starts_with("home/"), "home/");
    let users = compare_named(&a.plan.users, &b.plan.users, |u| &u.name);
    let groups = compare_named(&a.plan.groups, &b.plan.groups, |g| &g.name);
    // secrets and templates (rendered/NAME) as named entries
    let entries = |p: &Plan| -> Vec<serde_json::Value> {
        let Some(m) = &p.secrets.0 else {
            return Vec::new();
        };
        let mut v: Vec<serde_json::Value> = m
            .secrets
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect();
        v.extend(m.templates.iter().map(|t| {
            let mut x = serde_json::to_value(t).unwrap_or_default();
            x["name"] = format!("rendered/{}", t.name).into();
            x
        }));
        v
    };
    let secrets = compare_named(&entries(&a.plan), &entries(&b.plan), |e| {
        e["name"].as_str().unwrap_or("?")
    });
    Ok(Diff {
        packages,
        etc,
        units,
        users,
        groups,
        home,
        secrets,
        size: SizeDelta {
            old: a.size,
            new: b.size,
            delta: b.size as i64 - a.size as i64,
        },
    })
}

fn human(n: i64) -> String {
    let a = n.unsigned_abs() as f64;
    let sign = if n < 0 { "-" } else { "" };
    if a < 1024.0 {
        format!("{sign}{a} B")
    } else if a < 1024.0 * 1024.0 {
        format!("{sign}{:.1} KiB", a / 1024.0)
    } else {
        format!("{sign}{:.1} MiB", a / 1024.0 / 1024.0)
    }
}

impl Diff {
    /// The terminal rendering; `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let (g, r, y, b, z) = if color {
            ("\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "", "", "")
        };
        let mut o = String::new();
        let head = |o: &mut String, t: &str| o.push_str(&format!("{b}{t}{z}\n"));
        if !self.packages.is_empty() {
            head(&mut o, "Packages:");
            for p in &self.packages.added {
                o.push_str(&format!("  {g}+ {p}{z}\n"));
            }
            for p in &self.packages.removed {
                o.push_str(&format!("  {r}- {p}{z}\n"));
            }
            for p in &self.packages.changed {
                o.push_str(&format!("  {y}~ {} {} -> {}{z}\n", p.name, p.old, p.new));
            }
        }
        for (title, c) in [
            ("Units:", &self.units),
            ("/etc files:", &self.etc),
            ("Home files:", &self.home),
        ] {
            if c.is_empty() {
                continue;
            }
            head(&mut o, title);
            for p in &c.added {
                o.push_str(&format!("  {g}+ {p}{z}\n"));
            }
            for p in &c.removed {
                o.push_str(&format!("  {r}- {p}{z}\n"));
            }
            for f in &c.changed {
                o.push_str(&format!("  {y}~ {}{z}\n", f.path));
                for line in f.diff.lines() {
                    let col = if line.starts_with('+') && !line.starts_with("+++") {
                        g
                    } else if line.starts_with('-') && !line.starts_with("---") {
                        r
                    } else {
                        ""
                    };
                    o.push_str(&format!("    {col}{line}{z}\n"));
                }
            }
        }
        for (title, c) in [
            ("Users:", &self.users),
            ("Groups:", &self.groups),
            ("Secrets:", &self.secrets),
        ] {
            if c.is_empty() {
                continue;
            }
            head(&mut o, title);
            for p in &c.added {
                o.push_str(&format!("  {g}+ {p}{z}\n"));
            }
            for p in &c.removed {
                o.push_str(&format!("  {r}- {p}{z}\n"));
            }
            for n in &c.changed {
                o.push_str(&format!("  {y}~ {}{z}\n", n.name));
                for f in &n.fields {
                    o.push_str(&format!("      {f}\n"));
                }
            }
        }
        o.push_str(&format!(
            "{b}Size:{z} {} -> {} ({})\n",
            human(self.size.old as i64),
            human(self.size.new as i64),
            human(self.size.delta)
        ));
        o
    }
}
