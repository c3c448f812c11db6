//! Secrets at activation: the toplevel's `secrets` section (sops-nix's
//! manifest shape, docs/toplevel.md) handed to `ox_sops::install`.
//!
//! Two steps, matching the engine's two phases:
//! * [`prepare`] (planning, changes nothing): parse the section and run
//!   `ox_sops::install`'s dry run (decrypt every sops file, find every
//!   key, check that every owner and group exists or, here, is declared
//!   by the plan, and work out which files would differ from what
//!   `/run/secrets` holds now). A missing
//!   key, a missing or undecryptable file, a tampered MAC or an unknown
//!   owner refuses the switch here, before anything else changes.
//! * [`install`] (applying, after users and groups exist, before units
//!   are (re)started): `ox_sops::install` writes a fresh generation on a
//!   tmpfs and repoints `/run/secrets`; its report names the units to
//!   restart or reload because a value changed.
//!
//! Only names ever leave this module (in messages, reports, the
//! journal): never a value.

use std::collections::BTreeMap;

use ox_sops::install::{Missing, Spec};
use ox_sops::manifest::Manifest;

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

/// Whether an owner or group the host lacks is declared by the plan
/// (activation creates it before secrets are installed).
fn declared_owner(t: &Toplevel, ids: &Ids, m: Missing) -> bool {
    match m {
        Missing::User(o) => ids.uid(o).is_some() || t.plan.users.iter().any(|u| u.name == o),
        Missing::Group(g) => {
            ids.gid(g).is_some()
                || t.plan.groups.iter().any(|x| x.name == g)
                || t.plan
                    .users
                    .iter()
                    .any(|u| u.group == g || (u.group.is_empty() && u.name == g))
        }
    }
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

/// Everything that can fail without writing (see the module docs):
/// `ox_sops::install`'s own dry run, with the plan's users and groups
/// counted as existing.
pub fn prepare(p: &Paths, t: &Toplevel, ids: &Ids) -> Result<Prepared, Error> {
    let mut manifest = manifest(t)?;
    manifest.spec = rooted(p, manifest.spec);
    manifest.for_users = manifest.for_users.map(|s| rooted(p, s));
    let mut would_change = Vec::new();
    let mut would_remove = Vec::new();
    let mut for_users = BTreeMap::new();
    let will_exist = |m: Missing| declared_owner(t, ids, m);
    for spec in std::iter::once(&manifest.spec).chain(manifest.for_users.as_ref()) {
        if spec.secrets.is_empty() && spec.templates.is_empty() {
            continue;
        }
        ox_sops::install::check(spec).map_err(|e| plan_err(t, e.to_string()))?;
        let (r, values) = ox_sops::install::dry_run_with(spec, Some(&will_exist))
            .map_err(|e| plan_err(t, e.to_string()))?;
        if spec.ignore_passwd {
            for s in &spec.secrets {
                // as the host sees it (the spec's paths are under root)
                let shown = spec.symlink.join(&s.name);
                let shown = shown
                    .strip_prefix(&p.root)
                    .map(|r| format!("/{}", r.display()))
                    .unwrap_or_else(|_| shown.display().to_string());
                let v = values.get(&s.name).unwrap_or_default();
                for_users.insert(shown, String::from_utf8_lossy(v).trim().to_string());
            }
        }
        let mut changed: Vec<&String> = r.added.iter().chain(&r.changed).collect();
        changed.sort();
        would_change.extend(changed.into_iter().map(|rel| display_name(spec, rel)));
        would_remove.extend(r.removed.iter().map(|rel| display_name(spec, rel)));
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
        let names = ox_sops::install::uninstall(&spec, dry).map_err(|e| {
            Error::Other(format!(
                "removing the secrets of {}: {e}",
                old.path.display()
            ))
        })?;
        removed.extend(names.iter().map(|r| display_name(&spec, r)));
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
