//! Secrets at activation: the toplevel's `secrets` section (sops-nix's
//! manifest shape, docs/toplevel.md) handed to `ox_sops::install`.
//!
//! Two steps, matching the engine's two phases:
//! * [`prepare`] (planning, changes nothing): parse the section, build
//!   the identities, decrypt every sops file, find every key, check that
//!   every owner and group exists or is declared, and work out which
//!   files would differ from what `/run/secrets` holds now. A missing
//!   key, a missing or undecryptable file, a tampered MAC or an unknown
//!   owner refuses the switch here, before anything else changes.
//! * [`install`] (applying, after users and groups exist, before units
//!   are (re)started): `ox_sops::install` writes a fresh generation on a
//!   tmpfs and repoints `/run/secrets`; its report names the units to
//!   restart or reload because a value changed.
//!
//! Only names ever leave this module (in messages, reports, the
//! journal): never a value.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use ox_sops::install::{placeholder, Secret, Spec};
use ox_sops::manifest::Manifest;
use ox_sops::{Format, PathSeg};

use crate::etc::Ids;
use crate::plan::Toplevel;
use crate::{Error, Paths};

/// A toplevel's secrets, checked and ready to install.
pub struct Prepared {
    pub manifest: Manifest,
    /// `rendered/<name>` and secret names whose file would be added or
    /// changed (what `dry-activate` lists), sorted.
    pub would_change: Vec<String>,
    /// Names the current generation has and the new one has not.
    pub would_remove: Vec<String>,
    /// `neededForUsers` values by the path they get
    /// (`/run/secrets-for-users/<name>`): user planning reads a
    /// `hashedPasswordFile` there before it is installed. Memory only.
    for_users: BTreeMap<String, String>,
}

/// What [`install`] did.
#[derive(Debug, Default)]
pub struct Installed {
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub restart_units: Vec<String>,
    pub reload_units: Vec<String>,
}

fn plan_err(t: &Toplevel, msg: String) -> Error {
    Error::Plan {
        path: t.path.join("activation.json"),
        msg,
    }
}

/// Whether the toplevel declares any secret or template.
pub fn declared(t: &Toplevel) -> bool {
    t.plan.secrets.declares_any()
}

/// Parse the section; paths are relative to `root` (identities, mount
/// point and symlink live on the host being activated).
pub fn manifest(t: &Toplevel) -> Result<Manifest, Error> {
    Manifest::from_plan(&t.plan.secrets).map_err(|e| plan_err(t, format!("secrets: {e}")))
}

fn value_of(
    s: &Secret,
    cache: &mut HashMap<(PathBuf, &'static str), ox_sops::Decrypted>,
    ids: &ox_sops::Identities,
) -> Result<Vec<u8>, String> {
    let ck = (s.sops_file.clone(), s.format.name());
    if !cache.contains_key(&ck) {
        let d = ox_sops::decrypt_file(&s.sops_file, Some(s.format), ids)
            .map_err(|e| format!("secret '{}': {e}", s.name))?;
        cache.insert(ck.clone(), d);
    }
    let d = &cache[&ck];
    let whole =
        s.key.is_empty() || matches!(s.format, Format::Binary | Format::Dotenv | Format::Ini);
    if whole {
        return d
            .plaintext()
            .map_err(|e| format!("secret '{}': {e}", s.name));
    }
    let path: Vec<PathSeg> = s.key.split('/').map(|k| PathSeg::Key(k.into())).collect();
    match d.extract(&path) {
        Ok(ox_sops::Value::Str(v)) => Ok(v.clone().into_bytes()),
        Ok(ox_sops::Value::Bytes(b)) => Ok(b.clone()),
        Ok(_) => Err(format!(
            "secret '{}': the value of key '{}' in {} is not a string",
            s.name,
            s.key,
            s.sops_file.display()
        )),
        Err(_) => Err(format!(
            "secret '{}': key '{}' not found in {}",
            s.name,
            s.key,
            s.sops_file.display()
        )),
    }
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if !needle.is_empty() && hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// An owner or group must exist on the host or be declared by the plan
/// (it is created before secrets are installed).
fn check_who(
    t: &Toplevel,
    ids: &Ids,
    what: &str,
    owner: &Option<String>,
    group: &Option<String>,
) -> Result<(), Error> {
    let numeric = |s: &str| s.parse::<u32>().is_ok();
    if let Some(o) = owner {
        let ok = numeric(o) || ids.uid(o).is_some() || t.plan.users.iter().any(|u| &u.name == o);
        if !ok {
            return Err(plan_err(
                t,
                format!("{what}: owner `{o}` neither exists on the host nor is declared"),
            ));
        }
    }
    if let Some(g) = group {
        let ok = numeric(g)
            || ids.gid(g).is_some()
            || t.plan.groups.iter().any(|x| &x.name == g)
            || t.plan
                .users
                .iter()
                .any(|u| &u.group == g || (u.group.is_empty() && &u.name == g));
        if !ok {
            return Err(plan_err(
                t,
                format!("{what}: group `{g}` neither exists on the host nor is declared"),
            ));
        }
    }
    Ok(())
}

/// The spec with its host paths under `root`.
fn rooted(p: &Paths, mut s: Spec) -> Spec {
    s.ssh_key_paths = s
        .ssh_key_paths
        .iter()
        .map(|k| p.at(&k.to_string_lossy()))
        .collect();
    s.age_key_file = s.age_key_file.map(|k| p.at(&k.to_string_lossy()));
    s.mount_point = p.at(&s.mount_point.to_string_lossy());
    s.symlink = p.at(&s.symlink.to_string_lossy());
    s
}

/// Everything that can fail without writing (see the module docs).
pub fn prepare(p: &Paths, t: &Toplevel, ids: &Ids) -> Result<Prepared, Error> {
    let mut manifest = manifest(t)?;
    manifest.spec = rooted(p, manifest.spec);
    manifest.for_users = manifest.for_users.map(|s| rooted(p, s));
    let mut would_change = Vec::new();
    let mut would_remove = Vec::new();
    let mut for_users = BTreeMap::new();
    for spec in std::iter::once(&manifest.spec).chain(manifest.for_users.as_ref()) {
        if spec.secrets.is_empty() && spec.templates.is_empty() {
            continue;
        }
        ox_sops::install::check(spec).map_err(|e| plan_err(t, e.to_string()))?;
        let keys = spec.identities().map_err(|e| plan_err(t, e.to_string()))?;
        let mut cache = HashMap::new();
        let mut files: BTreeMap<String, (Vec<u8>, u32)> = BTreeMap::new();
        let mut values: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for s in &spec.secrets {
            let v = value_of(s, &mut cache, &keys).map_err(|e| plan_err(t, e))?;
            if !spec.ignore_passwd {
                check_who(t, ids, &format!("secret '{}'", s.name), &s.owner, &s.group)?;
            }
            if spec.ignore_passwd {
                // as the host sees it (the spec's paths are under root)
                let shown = spec.symlink.join(&s.name);
                let shown = shown
                    .strip_prefix(&p.root)
                    .map(|r| format!("/{}", r.display()))
                    .unwrap_or_else(|_| shown.display().to_string());
                for_users.insert(shown, String::from_utf8_lossy(&v).trim().to_string());
            }
            values.insert(s.name.clone(), v.clone());
            files.insert(s.name.clone(), (v, s.mode));
        }
        for tm in &spec.templates {
            check_who(
                t,
                ids,
                &format!("template '{}'", tm.name),
                &tm.owner,
                &tm.group,
            )?;
            let mut c = tm.content.clone().into_bytes();
            for (name, v) in &values {
                c = replace_all(&c, placeholder(name).as_bytes(), v);
            }
            files.insert(format!("rendered/{}", tm.name), (c, tm.mode));
        }
        // compared with what the current generation holds (content and
        // mode; owners are compared by the installer itself)
        for (rel, (bytes, mode)) in &files {
            let cur = spec.symlink.join(rel);
            let same = std::fs::read(&cur).is_ok_and(|b| &b == bytes)
                && std::fs::symlink_metadata(&cur).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o7777 == *mode
                });
            if !same {
                would_change.push(display_name(spec, rel));
            }
        }
        for rel in list_files(&spec.symlink) {
            if !files.contains_key(&rel) {
                would_remove.push(display_name(spec, &rel));
            }
        }
    }
    Ok(Prepared {
        manifest,
        would_change,
        would_remove,
        for_users,
    })
}

impl Prepared {
    /// The plan for user planning: a `hashedPasswordFile` that is a
    /// `neededForUsers` secret becomes its value (the file itself is
    /// installed only when applying, after planning).
    pub fn users_plan(&self, plan: &crate::plan::Plan) -> Option<crate::plan::Plan> {
        let hits = plan.users.iter().any(|u| {
            u.hashed_password.is_none()
                && u.hashed_password_file
                    .as_ref()
                    .is_some_and(|f| self.for_users.contains_key(f))
        });
        if !hits {
            return None;
        }
        let mut plan = plan.clone();
        for u in &mut plan.users {
            if u.hashed_password.is_some() {
                continue;
            }
            if let Some(v) = u
                .hashed_password_file
                .as_ref()
                .and_then(|f| self.for_users.get(f))
            {
                u.hashed_password = Some(v.clone());
            }
        }
        Some(plan)
    }
}

/// `/run/secrets/<rel>` (the path a user knows) for messages.
fn display_name(spec: &Spec, rel: &str) -> String {
    spec.symlink.join(rel).to_string_lossy().into_owned()
}

fn list_files(root: &std::path::Path) -> Vec<String> {
    fn go(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(ft) if ft.is_dir() => go(root, &path, out),
                Ok(ft) if ft.is_file() => {
                    if let Ok(r) = path.strip_prefix(root) {
                        out.push(r.to_string_lossy().into_owned());
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = vec![];
    // through the symlink: the current generation's files
    let base = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    go(&base, &base, &mut out);
    out.sort();
    out
}

/// The planning step for the engine: `None` when the toplevel has no
/// secrets, or (with a warning) when activating an image with `--root`,
/// where there is no tmpfs to decrypt to.
pub fn plan(
    p: &Paths,
    t: &Toplevel,
    ids: &Ids,
    warnings: &mut Vec<String>,
) -> Result<Option<Prepared>, Error> {
    if !declared(t) {
        return Ok(None);
    }
    if !p.is_live() {
        let m = manifest(t)?;
        for spec in std::iter::once(&m.spec).chain(m.for_users.as_ref()) {
            ox_sops::install::check(spec).map_err(|e| plan_err(t, e.to_string()))?;
        }
        warnings.push(
            "--root: secrets were checked but not installed (they are decrypted only on the live host)"
                .into(),
        );
        return Ok(None);
    }
    prepare(p, t, ids).map(Some)
}

/// Adds the units that `sops.*.restartUnits` / `reloadUnits` name for
/// changed secrets to the unit jobs, unless they already get a job;
/// like `systemctl try-restart`, only running units are touched.
/// Returns what it added, for the output.
pub fn add_unit_jobs(
    done: &Installed,
    units: &mut crate::engine::UnitPlan,
    is_active: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    for u in &done.restart_units {
        let has_job = units.restart.contains(u) || units.start.contains(u);
        if !has_job && is_active(u) {
            units.restart.push(u.clone());
            lines.push(format!("restart {u} (its secrets changed)"));
        }
    }
    for u in &done.reload_units {
        let has_job = units.restart.contains(u)
            || units.start.contains(u)
            || units.reload.contains(u)
            || units.stop.contains(u);
        if !has_job && is_active(u) {
            units.reload.push(u.clone());
            lines.push(format!("reload {u} (its secrets changed)"));
        }
    }
    lines
}

/// When the new generation declares no secrets but the running one
/// did: its installed secrets are removed (the `/run/secrets` link and
/// the generations behind it), as sops-nix's empty manifest does. With
/// `dry`, only lists them. Returns the removed paths.
pub fn remove_stale(p: &Paths, old: Option<&Toplevel>, dry: bool) -> Result<Vec<String>, Error> {
    let Some(old) = old.filter(|o| declared(o)) else {
        return Ok(vec![]);
    };
    let m = manifest(old)?;
    let mut removed = Vec::new();
    for spec in std::iter::once(m.spec).chain(m.for_users) {
        let spec = rooted(p, spec);
        let Ok(target) = std::fs::read_link(&spec.symlink) else {
            continue;
        };
        if !target.starts_with(&spec.mount_point) {
            continue; // not ours
        }
        removed.extend(
            list_files(&spec.symlink)
                .iter()
                .map(|r| display_name(&spec, r)),
        );
        if dry {
            continue;
        }
        std::fs::remove_file(&spec.symlink).map_err(crate::io_err(&spec.symlink))?;
        for e in std::fs::read_dir(&spec.mount_point)
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().parse::<u64>().is_ok() {
                let d = e.path();
                std::fs::remove_dir_all(&d).map_err(crate::io_err(&d))?;
            }
        }
    }
    Ok(removed)
}

/// Lines for the plan (`dry-activate` and the switch's own listing).
pub fn describe(pr: &Prepared) -> Vec<String> {
    let mut lines = Vec::new();
    if !pr.would_change.is_empty() {
        lines.push(format!(
            "install secret(s) (new or changed): {}",
            pr.would_change.join(" ")
        ));
    }
    if !pr.would_remove.is_empty() {
        lines.push(format!("remove secret(s): {}", pr.would_remove.join(" ")));
    }
    lines
}

/// `neededForUsers` secrets: before users are created.
pub fn install_for_users(t: &Toplevel, pr: &Prepared) -> Result<Installed, Error> {
    match &pr.manifest.for_users {
        Some(spec) => run(t, spec),
        None => Ok(Installed::default()),
    }
}

/// The host's secrets and templates: after users and groups exist.
pub fn install(t: &Toplevel, pr: &Prepared) -> Result<Installed, Error> {
    run(t, &pr.manifest.spec)
}

fn run(t: &Toplevel, spec: &Spec) -> Result<Installed, Error> {
    let r = ox_sops::install::install(spec).map_err(|e| {
        Error::Other(format!(
            "installing the secrets of {}: {e}",
            t.path.display()
        ))
    })?;
    let mut changed: Vec<String> = r.added.iter().chain(&r.changed).cloned().collect();
    changed.sort();
    Ok(Installed {
        changed,
        removed: r.removed,
        restart_units: r.restart_units,
        reload_units: r.reload_units,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_everywhere() {
        let p = placeholder("a");
        let text = format!("x={p} y={p}\n");
        assert_eq!(
            replace_all(text.as_bytes(), p.as_bytes(), b"v"),
            b"x=v y=v\n"
        );
        assert_eq!(replace_all(b"abc", b"", b"v"), b"abc");
    }
}
