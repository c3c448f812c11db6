//! home-manager users: `home.file`, `xdg.configFile`, user units with
//! home-manager's `Unit`/`Service`/`Install` sections (its `toSystemdIni`)
//! and `home.activation` in `dag.topoSort` order, written below
//! `$T/home/<user>/`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{DagEntry, HomeConfig, HomeFile};
use crate::plan::{self, Home, HomeActivation, OnConflict};
use crate::{show_attr, Ctx, Error, Node};

/// home-manager's own activation steps and where they sit in the DAG
/// (modules/files.nix, home-environment.nix, systemd.nix).
const BUILTIN_STEPS: [(&str, &[&str], &[&str]); 7] = [
    ("checkFilesChanged", &[], &["linkGeneration"]),
    ("checkLinkTargets", &[], &["writeBoundary"]),
    ("writeBoundary", &[], &[]),
    ("linkGeneration", &["writeBoundary"], &[]),
    ("installPackages", &["writeBoundary"], &[]),
    ("onFilesChange", &["linkGeneration"], &[]),
    ("reloadSystemd", &["linkGeneration"], &[]),
];

/// home-manager's `toSystemdIni`: sections in name order, `null` and
/// `[]` values and empty sections dropped, lists as repeated keys.
pub fn systemd_ini(
    unit: &BTreeMap<String, BTreeMap<String, Value>>,
    option: &str,
) -> Result<String, Error> {
    let mut sections = Vec::new();
    for (sec, kv) in unit {
        let mut body = String::new();
        for (k, v) in kv {
            let items: Vec<&Value> = match v {
                Value::Null => continue,
                Value::Array(a) if a.is_empty() => continue,
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for x in items {
                let s = match x {
                    Value::Bool(b) => b.to_string(),
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Null => String::new(),
                    other => {
                        return Err(Error::Invalid {
                            option: format!("{option}.{sec}.{k}"),
                            expected: "a string, integer, boolean or a list of them".into(),
                            found: other.to_string(),
                        })
                    }
                };
                body.push_str(&format!("{k}={s}\n"));
            }
        }
        if !body.is_empty() {
            sections.push(format!("[{sec}]\n{body}"));
        }
    }
    Ok(sections.join("\n"))
}

/// `dag.topoSort` of `home.activation` with home-manager's own steps.
pub fn activation_order(
    entries: &BTreeMap<String, DagEntry>,
    option: &str,
) -> Result<Vec<HomeActivation>, Error> {
    let mut all: BTreeMap<String, (DagEntry, bool)> = BTreeMap::new();
    for (name, after, before) in BUILTIN_STEPS {
        all.insert(
            name.to_string(),
            (
                DagEntry {
                    data: String::new(),
                    after: after.iter().map(|s| s.to_string()).collect(),
                    before: before.iter().map(|s| s.to_string()).collect(),
                },
                true,
            ),
        );
    }
    for (k, e) in entries {
        all.insert(k.clone(), (e.clone(), false));
    }
    // normalise: "a before b" becomes "b after a"
    let names: Vec<String> = all.keys().cloned().collect();
    let mut items: Vec<(String, Vec<String>, String, bool)> = Vec::new();
    for n in &names {
        let (e, builtin) = &all[n];
        let mut after = e.after.clone();
        for m in &names {
            if all[m].0.before.iter().any(|b| b == n) {
                after.push(m.clone());
            }
        }
        items.push((n.clone(), after, e.data.clone(), *builtin));
    }
    let sorted = crate::dag::toposort(items, &|a, b| b.1.contains(&a.0)).map_err(|cycle| {
        Error::Invalid {
            option: option.to_string(),
            expected: "a DAG without cycles".into(),
            found: format!(
                "the cycle {} -> {}",
                cycle
                    .iter()
                    .map(|c| c.0.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> "),
                cycle.first().map(|c| c.0.as_str()).unwrap_or_default()
            ),
        }
    })?;
    Ok(sorted
        .into_iter()
        .map(|(name, _, script, builtin)| HomeActivation {
            name,
            script,
            builtin,
        })
        .collect())
}

struct HomeCx<'c, 'a> {
    cx: &'c mut Ctx<'a>,
    user: String,
    files: BTreeMap<String, plan::HomeFile>,
    /// `onChange` scripts: (target, script).
    on_change: Vec<(String, String)>,
}

/// sha256 (hex) of everything at or below `dest` in the tree: what an
/// `onChange` script compares with the last run.
fn content_hash(tree: &crate::Tree, dest: &str) -> String {
    let mut buf = Vec::new();
    let prefix = format!("{dest}/");
    for (p, n) in &tree.entries {
        if p != dest && !p.starts_with(&prefix) {
            continue;
        }
        buf.extend_from_slice(p.as_bytes());
        buf.push(0);
        match n {
            Node::File { data, executable } => {
                buf.push(if *executable { b'x' } else { b'f' });
                buf.extend_from_slice(data);
            }
            Node::Symlink(t) => {
                buf.push(b'l');
                buf.extend_from_slice(t.as_bytes());
            }
        }
        buf.push(0);
    }
    ox_store::Hash::digest(ox_store::HashAlgo::Sha256, &buf).to_base16()
}

/// home-manager's `onChange`: the script runs in the activation when
/// the file's content differs from the last run (a stamp in the
/// user's state directory), after the files are linked.
fn on_change_entry(target: &str, hash: &str, script: &str) -> DagEntry {
    let stamp = ox_store::Hash::digest(ox_store::HashAlgo::Sha256, target.as_bytes()).to_base16();
    DagEntry {
        data: format!(
            "__ox_stamp=\"${{XDG_STATE_HOME:-$HOME/.local/state}}/ox/on-change/{stamp}\"\n\
             if [ \"$(cat \"$__ox_stamp\" 2>/dev/null)\" != {hash} ]; then\n\
             {script}\n\
             mkdir -p \"$(dirname \"$__ox_stamp\")\" && printf %s {hash} > \"$__ox_stamp\"\n\
             fi\n\
             unset __ox_stamp\n"
        ),
        after: vec!["onFilesChange".into()],
        before: vec![],
    }
}

impl HomeCx<'_, '_> {
    fn add(&mut self, target: &str, f: &HomeFile, option: &str) -> Result<(), Error> {
        let t = crate::tree::normalize(target).ok_or_else(|| Error::Invalid {
            option: format!("{option}.target"),
            expected: "a path relative to the home directory, without `..`".into(),
            found: format!("{target:?}"),
        })?;
        let dest = format!("home/{}/{t}", self.user);
        match (&f.text, &f.source) {
            (Some(text), _) => self.cx.tree.insert(
                &dest,
                Node::File {
                    data: text.clone().into_bytes(),
                    executable: f.executable.unwrap_or(false),
                },
                option,
            )?,
            (None, Some(src)) => {
                crate::files::place_source(
                    &mut self.cx.tree,
                    &self.cx.store_dir,
                    &dest,
                    src,
                    &format!("{option}.source"),
                )?;
                if let Some(x) = f.executable {
                    if let Some(Node::File { executable, .. }) = self.cx.tree.entries.get_mut(&dest)
                    {
                        *executable = x;
                    }
                }
            }
            (None, None) => {
                return Err(Error::Invalid {
                    option: option.to_string(),
                    expected: "`text` or `source` to be set".into(),
                    found: "neither".into(),
                })
            }
        }
        if !f.on_change.trim().is_empty() {
            self.on_change.push((t.clone(), f.on_change.clone()));
        }
        let executable = matches!(
            self.cx.tree.entries.get(&dest),
            Some(Node::File {
                executable: true,
                ..
            })
        );
        let on_conflict = if f.force {
            OnConflict::Replace
        } else {
            OnConflict::Error
        };
        let prefix = format!("{dest}/");
        let below: Vec<(String, bool)> = self
            .cx
            .tree
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, n)| {
                (
                    k.clone(),
                    matches!(
                        n,
                        Node::File {
                            executable: true,
                            ..
                        }
                    ),
                )
            })
            .collect();
        if f.recursive && !below.is_empty() {
            // home-manager's `recursive`: each file is linked on its own,
            // so the directory itself stays the user's
            for (k, x) in below {
                let rel = k[format!("home/{}/", self.user).len()..].to_string();
                self.files.insert(
                    rel.clone(),
                    plan::HomeFile {
                        target: rel,
                        source: k,
                        executable: x,
                        on_conflict,
                    },
                );
            }
            return Ok(());
        }
        self.files.insert(
            t.clone(),
            plan::HomeFile {
                target: t,
                source: dest,
                executable,
                on_conflict,
            },
        );
        Ok(())
    }

    fn add_node(&mut self, target: &str, node: Node, option: &str) -> Result<(), Error> {
        let dest = format!("home/{}/{target}", self.user);
        self.cx.tree.insert(&dest, node, option)?;
        self.files.insert(
            target.to_string(),
            plan::HomeFile {
                target: target.to_string(),
                source: dest,
                executable: false,
                on_conflict: OnConflict::Error,
            },
        );
        Ok(())
    }
}

pub(crate) fn render_homes(cx: &mut Ctx) -> Result<Vec<Home>, Error> {
    let cfg = cx.cfg;
    let mut out = Vec::new();
    for (user, hm) in &cfg.home_manager.users {
        let base = format!("home-manager.users.{}", show_attr(user));
        if user.is_empty() || user.contains('/') {
            return Err(Error::Invalid {
                option: base,
                expected: "a user name".into(),
                found: format!("{user:?}"),
            });
        }
        let home_dir = cfg
            .users
            .users
            .get(user)
            .and_then(|u| u.home.clone())
            .or_else(|| hm.home.home_directory.clone())
            .unwrap_or_else(|| format!("/home/{user}"));
        let mut h = HomeCx {
            cx,
            user: user.clone(),
            files: BTreeMap::new(),
            on_change: Vec::new(),
        };
        render_home(&mut h, hm, &home_dir, &base)?;
        let mut dag = hm.home.activation.clone();
        for (target, script) in &h.on_change {
            let hash = content_hash(&h.cx.tree, &format!("home/{user}/{target}"));
            dag.insert(
                format!("onChange:{target}"),
                on_change_entry(target, &hash, script.trim_end()),
            );
        }
        let activation = activation_order(&dag, &format!("{base}.home.activation"))?;
        out.push(Home {
            user: user.clone(),
            files: h.files.into_values().collect(),
            activation,
            session_variables: hm
                .home
                .session_variables
                .iter()
                .map(|(k, v)| (k.clone(), v.render()))
                .collect(),
        });
    }
    Ok(out)
}

fn render_home(h: &mut HomeCx, hm: &HomeConfig, home_dir: &str, base: &str) -> Result<(), Error> {
    for (name, f) in &hm.home.file {
        if !f.enable {
            continue;
        }
        let target = f.target.clone().unwrap_or_else(|| name.clone());
        // absolute targets inside the home directory are allowed
        let target = target
            .strip_prefix(&format!("{home_dir}/"))
            .map(str::to_string)
            .unwrap_or(target);
        h.add(&target, f, &format!("{base}.home.file.{}", show_attr(name)))?;
    }
    let config_home = hm
        .xdg
        .config_home
        .as_deref()
        .and_then(|c| c.strip_prefix(&format!("{home_dir}/")))
        .unwrap_or(".config")
        .to_string();
    for (name, f) in &hm.xdg.config_file {
        if !f.enable {
            continue;
        }
        let target = f.target.clone().unwrap_or_else(|| name.clone());
        h.add(
            &format!("{config_home}/{target}"),
            f,
            &format!("{base}.xdg.configFile.{}", show_attr(name)),
        )?;
    }
    // store-built home.packages: their programs in ~/.local/bin, which
    // Debian's default ~/.profile puts on PATH
    for pkg in &hm.home.store_packages {
        let option = format!("{base}.home.packages");
        for b in h.cx.package_bins(pkg, &option)? {
            h.add_node(
                &format!(".local/bin/{b}"),
                Node::Symlink(format!("{pkg}/bin/{b}")),
                &option,
            )?;
        }
    }
    let su = &hm.systemd.user;
    for (kind, units) in [
        ("service", &su.services),
        ("timer", &su.timers),
        ("socket", &su.sockets),
        ("path", &su.paths),
        ("target", &su.targets),
        ("slice", &su.slices),
    ] {
        for (name, unit) in units {
            let option = format!("{base}.systemd.user.{kind}s.{}", show_attr(name));
            let file = format!("{name}.{kind}");
            let text = systemd_ini(unit, &option)?;
            let dir = format!("{config_home}/systemd/user");
            h.add_node(
                &format!("{dir}/{file}"),
                Node::File {
                    data: text.into_bytes(),
                    executable: false,
                },
                &option,
            )?;
            let install = unit.get("Install");
            for (key, variant) in [("WantedBy", "wants"), ("RequiredBy", "requires")] {
                let targets: Vec<String> = match install.and_then(|i| i.get(key)) {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => vec![],
                };
                for t in targets {
                    h.add_node(
                        &format!("{dir}/{t}.{variant}/{file}"),
                        Node::Symlink(format!("../{file}")),
                        &option,
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_follows_write_boundary() {
        let mut e = BTreeMap::new();
        e.insert(
            "emacs".to_string(),
            DagEntry {
                data: "x".into(),
                after: vec!["writeBoundary".into()],
                before: vec![],
            },
        );
        e.insert(
            "early".to_string(),
            DagEntry {
                data: "y".into(),
                after: vec![],
                before: vec!["checkLinkTargets".into()],
            },
        );
        let names: Vec<String> = activation_order(&e, "t")
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
        assert!(pos("writeBoundary") < pos("emacs"));
        assert!(pos("early") < pos("checkLinkTargets"));
        assert!(pos("checkLinkTargets") < pos("writeBoundary"));
        assert!(pos("linkGeneration") < pos("reloadSystemd"));
        e.insert(
            "writeBoundary2".into(),
            DagEntry {
                data: String::new(),
                after: vec!["emacs".into()],
                before: vec!["emacs".into()],
            },
        );
        assert!(activation_order(&e, "t").is_err());
    }
}
