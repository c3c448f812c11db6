//! The switch itself: plan everything, refuse before changing anything
//! if something is in the way, then apply with a journal so that a
//! crash at any point is finished (after the /etc flip) or undone
//! (before it) by the next run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::etc::{self, Ids};
use crate::packages::{self, PkgPlan};
use crate::plan::Toplevel;
use crate::state::{Journal, Phase, State};
use crate::unit::{self, Action as UA};
use crate::users::{self, UserOp};
use crate::{fault_point, home, io_err, profile, run, symlink_atomic, systemd, Error, Paths};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Activate now and make it the boot default.
    Switch,
    /// Activate now only.
    Test,
    /// Make it the boot default only.
    Boot,
    /// Print what switch would change.
    DryActivate,
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        Ok(match s {
            "switch" => Action::Switch,
            "test" => Action::Test,
            "boot" => Action::Boot,
            "dry-activate" => Action::DryActivate,
            _ => {
                return Err(format!(
                    "unknown action `{s}` (switch, test, boot, dry-activate)"
                ))
            }
        })
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Switch => "switch",
            Action::Test => "test",
            Action::Boot => "boot",
            Action::DryActivate => "dry-activate",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub root: PathBuf,
    pub toplevel: PathBuf,
    pub action: Action,
    /// Reuse this generation number (rollback) instead of allocating.
    pub generation: Option<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct FailedUnit {
    pub unit: String,
    pub log: String,
}

/// What an activation did (or, for dry-activate, would do).
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub changes: Vec<String>,
    pub warnings: Vec<String>,
    pub failed_units: Vec<FailedUnit>,
    pub generation: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnitPlan {
    pub stop: Vec<String>,
    pub start: Vec<String>,
    pub restart: Vec<String>,
    pub reload: Vec<String>,
    pub skip: Vec<String>,
}

/// Decide unit jobs by comparing the running generation's units with
/// the new one's (only units ox manages; stock units are never touched).
pub fn plan_units(
    old: Option<&Toplevel>,
    new: &Toplevel,
    states: &BTreeMap<String, systemd::UnitState>,
) -> UnitPlan {
    let old_dir = old.map(|o| o.path.join("etc/systemd/system"));
    plan_unit_dirs(
        old_dir.as_deref(),
        &new.path.join("etc/systemd/system"),
        states,
    )
}

fn unit_names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !(n.ends_with(".wants") || n.ends_with(".requires") || n.ends_with(".d")))
        .collect();
    v.sort();
    v
}

/// [`plan_units`] for any pair of unit directories (system or user).
pub fn plan_unit_dirs(
    old_dir: Option<&Path>,
    new_dir: &Path,
    states: &BTreeMap<String, systemd::UnitState>,
) -> UnitPlan {
    let new_dir = new_dir.to_path_buf();
    let mut names: BTreeSet<String> = unit_names_in(&new_dir).into_iter().collect();
    if let Some(o) = old_dir {
        names.extend(unit_names_in(o));
    }
    let mut up = UnitPlan::default();
    // Stock units (Debian's, e.g. ssh.service) that the generation only
    // changes through `NAME.d/*.conf` drop-ins: the unit is not ours, so
    // it is never stopped or started, but a changed drop-in (an
    // `X-Reload-Triggers` hash, an override) reloads or restarts it.
    let dropin_only = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let unit = n.strip_suffix(".d")?.to_string();
                (unit.contains('.') && !names.contains(&unit)).then_some(unit)
            })
            .collect()
    };
    let mut stock: BTreeSet<String> = dropin_only(&new_dir).into_iter().collect();
    if let Some(o) = old_dir {
        stock.extend(dropin_only(o));
    }
    for name in stock {
        if !states.get(&name).is_some_and(|s| s.is_active()) {
            continue;
        }
        let o = old_dir
            .map(|d| unit::load_dropins(d, &name))
            .unwrap_or_default();
        let n = unit::load_dropins(&new_dir, &name);
        match unit::compare(&o, &n) {
            unit::Diff::Equal => {}
            unit::Diff::Reload => up.reload.push(name),
            unit::Diff::Restart => up.restart.push(name),
        }
    }
    for name in names {
        let o = old_dir.and_then(|d| unit::load(d, &name));
        let n = unit::load(&new_dir, &name);
        let active = states.get(&name).is_some_and(|s| s.is_active());
        if active {
            match unit::decide(&name, o.as_ref(), n.as_ref()) {
                UA::Nothing => {}
                UA::Stop => up.stop.push(name),
                UA::StopStart => {
                    up.stop.push(name.clone());
                    // socket-activated: restart the socket(s), which
                    // start the service on demand (as ng does)
                    let socks: Vec<String> = match &n {
                        Some(ni)
                            if !unit::is_true(unit::get(ni, "Service", "X-NotSocketActivated")) =>
                        {
                            socket_units(&new_dir, &name, ni)
                                .into_iter()
                                .filter(|s| states.get(s).is_some_and(|st| st.is_active()))
                                .collect()
                        }
                        _ => vec![],
                    };
                    if socks.is_empty() {
                        up.start.push(name);
                    } else {
                        for sock in socks {
                            if !up.stop.contains(&sock) {
                                up.stop.push(sock.clone());
                                up.start.push(sock);
                            }
                        }
                    }
                }
                UA::Restart => up.restart.push(name),
                UA::Reload => up.reload.push(name),
                UA::Skip => up.skip.push(name),
                UA::Start => up.start.push(name),
            }
        } else if let Some(n) = &n {
            // a template (foo@.service) is never started by name
            if name
                .split('.')
                .next()
                .is_some_and(|stem| stem.ends_with('@'))
            {
                continue;
            }
            let changed = o.as_ref() != Some(n);
            if changed && wanted_by_active_target(&new_dir, &name, states) {
                up.start.push(name);
            }
        }
    }
    up
}

/// The sockets that activate a service: its `Sockets=`, else
/// `<name>.socket` if the generation has one.
fn socket_units(dir: &Path, service: &str, ini: &unit::Ini) -> Vec<String> {
    let listed: Vec<String> = ini
        .get("Service")
        .and_then(|s| s.get("Sockets"))
        .map(|v| {
            v.iter()
                .flat_map(|x| x.split_whitespace().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    let base = service.strip_suffix(".service").unwrap_or(service);
    let sock = format!("{base}.socket");
    if dir.join(&sock).exists() {
        vec![sock]
    } else {
        vec![]
    }
}

fn wanted_by_active_target(
    dir: &Path,
    unit: &str,
    states: &BTreeMap<String, systemd::UnitState>,
) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        let target = n
            .strip_suffix(".wants")
            .or_else(|| n.strip_suffix(".requires"));
        target.is_some_and(|t| {
            std::fs::symlink_metadata(e.path().join(unit)).is_ok()
                && states.get(t).is_some_and(|s| s.is_active())
        })
    })
}

/// Every copied /etc entry's owner must exist or be declared: checked
/// before anything changes, not discovered half-way.
fn check_owners(
    t: &Toplevel,
    desired: &BTreeMap<String, (etc::Desired, crate::plan::OnConflict)>,
    ids: &Ids,
) -> Result<(), Error> {
    for (target, (d, _)) in desired {
        let etc::Desired::Copy { user, group, .. } = d else {
            continue;
        };
        let user_ok = ids.uid(user).is_some() || t.plan.users.iter().any(|u| &u.name == user);
        let group_ok = ids.gid(group).is_some()
            || t.plan.groups.iter().any(|g| &g.name == group)
            || t.plan
                .users
                .iter()
                .any(|u| &u.group == group || (u.group.is_empty() && &u.name == group));
        if !user_ok || !group_ok {
            return Err(Error::Plan {
                path: t.path.join("activation.json"),
                msg: format!(
                    "etc.`{target}`: {} `{}` neither exists on the host nor is declared",
                    if user_ok { "group" } else { "user" },
                    if user_ok { group } else { user }
                ),
            });
        }
    }
    Ok(())
}

/// Undo an interrupted *first* activation (there is no old generation
/// to go back to): /etc was not touched yet; lock the users it created
/// and remove the packages it installed.
fn undo_first(p: &Paths, report: &mut Report) -> Result<(), Error> {
    let mut state = State::load(p)?;
    let ids = Ids::read(p);
    // an empty plan: every user ox created is "no longer declared"
    let ops = users::plan(p, &crate::plan::Plan::default(), &state, &ids)?;
    users::apply(p, &ops, &mut state)?;
    report.changes.extend(ops.into_iter().map(|o| o.what));
    let owned: Vec<String> = state.packages.keys().cloned().collect();
    if !owned.is_empty() && p.is_live() {
        let pp = PkgPlan {
            remove: owned,
            ..PkgPlan::default()
        };
        packages::apply(p, &pp, &mut state.packages)?;
    }
    state.save(p)
}

/// A user's systemd units (home files under `.config/systemd/user`):
/// keep their manager running (linger), reload it and apply the same
/// start/stop/restart/reload rules as for system units.
fn user_units(
    old: Option<&Toplevel>,
    new: &Toplevel,
    user: &str,
    uid: u32,
    report: &mut Report,
    out: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let new_dir = home::user_unit_dir(new, user);
    let old_dir = old.map(|o| home::user_unit_dir(o, user));
    if systemd::at_boot() {
        // logind is not up before sysinit.target; lingering managers
        // start later in the boot with the new files
        return Ok(());
    }
    let has_units = |d: &Path| !unit_names_in(d).is_empty();
    if !has_units(&new_dir) && !old_dir.as_deref().is_some_and(has_units) {
        return Ok(());
    }
    systemd::user_manager(user, uid)?;
    systemd::daemon_reload(Some(user))?;
    let states = systemd::list_units(Some(user))?;
    let up = plan_unit_dirs(old_dir.as_deref(), &new_dir, &states);
    let who = Some(user);
    for (verb, list) in [
        ("stop", &up.stop),
        ("reload", &up.reload),
        ("restart", &up.restart),
        ("start", &up.start),
    ] {
        for u in list {
            let line = format!("{verb} {u} of {user}");
            out(&line);
            report.changes.push(line);
            if let Some(e) = systemd::job(verb, std::slice::from_ref(u), who) {
                report.failed_units.push(FailedUnit {
                    unit: format!("{u} (user {user})"),
                    log: e,
                });
            }
        }
    }
    Ok(())
}

/// `users.users.<name>.openssh.authorizedKeys`: one file per user in
/// /etc/ssh/authorized_keys.d (NixOS's place; sshd reads it when
/// `AuthorizedKeysFile` names it), staged in the state dir because they
/// are not files of the toplevel.
fn authorized_keys(p: &Paths, t: &Toplevel) -> BTreeMap<String, (PathBuf, String)> {
    t.plan
        .users
        .iter()
        .filter(|u| !u.authorized_keys.is_empty())
        .map(|u| {
            let mut text = u.authorized_keys.join("\n");
            text.push('\n');
            let src = p.state_dir().join("authorized_keys").join(&u.name);
            (u.name.clone(), (src, text))
        })
        .collect()
}

/// Holds the activation lock (flock on the state dir's lock file).
struct Lock(#[allow(dead_code)] std::fs::File);

fn lock(p: &Paths) -> Result<Lock, Error> {
    use std::os::fd::AsRawFd;
    let f = p.lock();
    std::fs::create_dir_all(p.state_dir()).map_err(io_err(&p.state_dir()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&f)
        .map_err(io_err(&f))?;
    // SAFETY: valid fd owned by `file`.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(Error::Locked(f));
    }
    Ok(Lock(file))
}

/// Unit jobs carried over from an interrupted run.
#[derive(Clone, Debug, Default)]
struct Carry {
    start: Vec<String>,
    restart: Vec<String>,
    reload: Vec<String>,
}

/// Activate a toplevel. Finishes or undoes an interrupted switch first.
pub fn activate(opts: &Options, out: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let p = Paths::new(&opts.root);
    let _lock = lock(&p)?;
    let mut report = Report::default();
    if opts.action == Action::DryActivate {
        if let Some(j) = Journal::load(&p)? {
            report.warnings.push(format!(
                "an interrupted {} to {} would be {} first",
                j.action,
                j.new.display(),
                if j.phase == Phase::Flipped {
                    "finished"
                } else {
                    "undone"
                }
            ));
        }
    } else {
        recover_locked(&p, out, &mut report)?;
    }
    let r = activate_locked(&p, opts, Carry::default(), out)?;
    report.changes.extend(r.changes);
    report.warnings.extend(r.warnings);
    report.failed_units.extend(r.failed_units);
    report.generation = r.generation;
    Ok(report)
}

/// `ox-boot.service`: early in every boot, activate the profile's
/// default generation (it differs from the live one after `ox boot`, or
/// after a switch cut short by a power loss) and record it as booted.
pub fn boot_unit_text(exe: &Path) -> String {
    format!(
        "# Written by ox activation; not part of any generation.\n\
         [Unit]\n\
         Description=ox: activate the default system generation\n\
         DefaultDependencies=no\n\
         After=local-fs.target\n\
         Before=sysinit.target shutdown.target\n\
         Conflicts=shutdown.target\n\
         ConditionPathExists=/ox/var/profiles/system\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart={} activate --boot-time\n",
        exe.display()
    )
}

fn install_boot_unit(p: &Paths) -> Result<(), Error> {
    let Ok(exe) = std::env::current_exe() else {
        return Ok(());
    };
    let f = p.at("/etc/systemd/system/ox-boot.service");
    let text = boot_unit_text(&exe);
    if std::fs::read_to_string(&f).ok().as_deref() != Some(text.as_str()) {
        crate::write_atomic(&f, text.as_bytes())?;
    }
    let want = p.at("/etc/systemd/system/sysinit.target.wants/ox-boot.service");
    if std::fs::read_link(&want).ok().as_deref() != Some(Path::new("../ox-boot.service")) {
        symlink_atomic(Path::new("../ox-boot.service"), &want)?;
    }
    Ok(())
}

/// What `ox-boot.service` runs: finish or undo an interrupted switch,
/// mark the default generation as booted and activate it.
pub fn boot_time(root: &Path, out: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    systemd::AT_BOOT.store(true, std::sync::atomic::Ordering::SeqCst);
    let p = Paths::new(root);
    let _lock = lock(&p)?;
    let mut report = Report::default();
    recover_locked(&p, out, &mut report)?;
    let Some(t) = profile::default_number(&p).and_then(|n| profile::toplevel_of(&p, n)) else {
        return Ok(report);
    };
    std::fs::create_dir_all(p.run_dir()).map_err(io_err(&p.run_dir()))?;
    symlink_atomic(&t, &p.booted_system())?;
    let opts = Options {
        root: p.root.clone(),
        toplevel: t,
        action: Action::Test,
        generation: None,
    };
    let r = activate_locked(&p, &opts, Carry::default(), out)?;
    if !r.changes.is_empty() && p.is_live() {
        // the boot transaction was computed from the old unit files:
        // queue the default target again so new wants are pulled in
        if let Some(e) = systemd::job("start", &["default.target".into()], None) {
            report.warnings.push(e);
        }
    }
    report.changes.extend(r.changes);
    report.warnings.extend(r.warnings);
    report.failed_units.extend(r.failed_units);
    Ok(report)
}

/// Finish or undo an interrupted switch, if there is one.
pub fn recover(root: &Path, out: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let p = Paths::new(root);
    let _lock = lock(&p)?;
    let mut report = Report::default();
    recover_locked(&p, out, &mut report)?;
    Ok(report)
}

fn recover_locked(p: &Paths, out: &mut dyn FnMut(&str), report: &mut Report) -> Result<(), Error> {
    let Some(j) = Journal::load(p)? else {
        return Ok(());
    };
    let action: Action = j.action.parse().map_err(Error::Other)?;
    // a new generation that vanished (deleted by hand) cannot be
    // finished: undo instead
    let phase = if j.phase == Phase::Flipped
        && Toplevel::load(&j.new).is_err()
        && j.old.as_ref().is_some_and(|o| Toplevel::load(o).is_ok())
    {
        out(&format!(
            "{} is gone; undoing instead of finishing",
            j.new.display()
        ));
        Phase::Prepared
    } else {
        j.phase
    };
    match phase {
        Phase::Flipped => {
            out(&format!(
                "finishing an interrupted {} to {}",
                j.action,
                j.new.display()
            ));
            let carry = Carry {
                start: j.start.clone(),
                restart: j.restart.clone(),
                reload: j.reload.clone(),
            };
            let opts = Options {
                root: p.root.clone(),
                toplevel: j.new.clone(),
                action,
                generation: j.generation,
            };
            let r = activate_locked(p, &opts, carry, out)?;
            report.changes.extend(r.changes);
            report.failed_units.extend(r.failed_units);
        }
        Phase::Prepared => {
            out(&format!(
                "undoing an interrupted {} to {}",
                j.action,
                j.new.display()
            ));
            if let Some(old) = &j.old {
                // state still describes `old`; converging to it restarts
                // what was stopped and locks users created on the way
                let carry = Carry {
                    start: j.stopped.clone(),
                    ..Carry::default()
                };
                let opts = Options {
                    root: p.root.clone(),
                    toplevel: old.clone(),
                    action: Action::Test,
                    generation: None,
                };
                let r = activate_locked(p, &opts, carry, out)?;
                report.changes.extend(r.changes);
                report.failed_units.extend(r.failed_units);
            } else {
                undo_first(p, report)?;
            }
            // (the profile is only touched after the flip: nothing to
            // take back there; a rollback's reused link must survive)
        }
    }
    Journal::remove(p)?;
    Ok(())
}

fn activate_locked(
    p: &Paths,
    opts: &Options,
    carry: Carry,
    out: &mut dyn FnMut(&str),
) -> Result<Report, Error> {
    let mut report = Report::default();
    let t = Toplevel::load(&opts.toplevel)?;
    let toplevel = t.path.clone();
    let mut state = State::load(p)?;
    let old = state.toplevel.as_ref().and_then(|o| Toplevel::load(o).ok());
    let dry = opts.action == Action::DryActivate;

    if !dry {
        install_boot_unit(p)?;
    }
    if opts.action == Action::Boot {
        let n = opts
            .generation
            .unwrap_or_else(|| profile::number_for(p, &toplevel));
        profile::add(p, n, &toplevel)?;
        profile::set_default(p, n)?;
        report.generation = Some(n);
        report.changes.push(format!(
            "generation {n} is the boot default (activated at next boot)"
        ));
        return Ok(report);
    }

    let live_units = p.is_live() && !matches!(opts.action, Action::Boot);
    if live_units && !systemd::running() {
        return Err(Error::Other(
            "systemd is not running here (no /run/systemd/system): use `boot`, or --root for an image"
                .into(),
        ));
    }

    // ---- plan (no changes yet) ----
    let ids = Ids::read(p);
    // decrypts everything now: a missing key or file refuses the switch
    let secrets = crate::secrets::plan(p, &t, &ids, &mut report.warnings)?;
    let with_pw = secrets.as_ref().and_then(|s| s.users_plan(&t.plan));
    let user_ops: Vec<UserOp> = users::plan(p, with_pw.as_ref().unwrap_or(&t.plan), &state, &ids)?;
    let mut etc_desired = etc::desired_etc(&t)?;
    let keys = authorized_keys(p, &t);
    for (user, (src, text)) in &keys {
        let target = format!("ssh/authorized_keys.d/{user}");
        if etc_desired.contains_key(&target) {
            continue;
        }
        let d = etc::Desired::Copy {
            src: src.clone(),
            sha256: etc::sha256_bytes(text.as_bytes()),
            mode: 0o444,
            user: "root".into(),
            group: "root".into(),
        };
        etc_desired.insert(target, (d, crate::plan::OnConflict::Replace));
    }
    let etc_ch = etc::plan_tree(
        &p.at("/etc"),
        &etc_desired,
        &state.etc,
        &ids,
        Some("/etc/ox-static/"),
        "/etc/",
    );
    check_owners(&t, &etc_desired, &ids)?;
    let homes = home::plan(p, &t, &state.home, &ids)?;
    let mut conflicts = etc_ch.conflicts.clone();
    for h in &homes {
        conflicts.extend(h.changes.conflicts.iter().cloned());
    }
    if !conflicts.is_empty() {
        return Err(Error::Conflicts(conflicts));
    }
    let booted = profile::read_system_link(&p.booted_system());
    let also_in_use: Vec<crate::plan::Package> = booted
        .filter(|b| b != &toplevel)
        .and_then(|b| Toplevel::load(&b).ok())
        .map(|b| b.plan.packages)
        .unwrap_or_default();
    let pkg_plan = if t.plan.packages.is_empty() && state.packages.is_empty() {
        PkgPlan::default()
    } else {
        let installed = packages::installed(p)?;
        packages::plan(&t.plan.packages, &also_in_use, &installed, &state.packages)
    };
    let mut units = if live_units {
        let states = systemd::list_units(None)?;
        plan_units(old.as_ref(), &t, &states)
    } else {
        UnitPlan::default()
    };
    for (dst, src) in [
        (&mut units.start, &carry.start),
        (&mut units.restart, &carry.restart),
        (&mut units.reload, &carry.reload),
    ] {
        for u in src {
            if !dst.contains(u) {
                dst.push(u.clone());
            }
        }
    }
    let flip = std::fs::read_link(p.etc_static()).ok() != Some(toplevel.join("etc"));

    // ---- describe ----
    let mut lines = Vec::new();
    lines.extend(user_ops.iter().map(|o| o.what.clone()));
    if flip {
        lines.push(format!(
            "point /etc/ox-static at {}",
            toplevel.join("etc").display()
        ));
    }
    lines.extend(etc::describe("/etc/", &etc_ch.ops));
    for h in &homes {
        lines.extend(etc::describe(&format!("~{}/", h.user), &h.changes.ops));
        let touches_units = h.changes.ops.iter().any(|op| match op {
            etc::Op::Create(r, _)
            | etc::Op::Update(r, _)
            | etc::Op::Backup(r, _)
            | etc::Op::Replace(r, _)
            | etc::Op::Remove(r) => r.starts_with(".config/systemd/user/"),
            etc::Op::Abandon(_) => false,
        });
        if touches_units && live_units {
            // which jobs exactly is decided once that manager reloaded
            lines.push(format!(
                "reload the systemd user manager of {} and apply its unit changes",
                h.user
            ));
        }
    }
    lines.extend(packages::describe(&pkg_plan));
    lines.extend(secrets.iter().flat_map(crate::secrets::describe));
    if secrets.is_none() && p.is_live() {
        let stale = crate::secrets::remove_stale(p, old.as_ref(), true)?;
        if !stale.is_empty() {
            lines.push(format!("remove secret(s): {}", stale.join(" ")));
        }
    }
    for (verb, list) in [
        ("stop", &units.stop),
        ("reload", &units.reload),
        ("restart", &units.restart),
        ("start", &units.start),
    ] {
        if !list.is_empty() {
            lines.push(format!("{verb} {}", list.join(" ")));
        }
    }
    if !units.skip.is_empty() {
        lines.push(format!(
            "leave running, though changed (X-RestartIfChanged=false): {}",
            units.skip.join(" ")
        ));
    }
    if !t.plan.tmpfiles.is_empty() {
        lines.push(format!("apply {} tmpfiles rule(s)", t.plan.tmpfiles.len()));
    }
    for h in &t.plan.home {
        for a in h.activation.iter().filter(|a| !a.script.trim().is_empty()) {
            lines.push(format!("run home.activation.{} for {}", a.name, h.user));
        }
    }
    if !p.is_live() {
        report
            .warnings
            .push("--root: systemd units were not started, stopped or reloaded".into());
    }
    if dry {
        report.changes = lines;
        return Ok(report);
    }
    for l in &lines {
        out(l);
    }
    report.changes = lines;

    // ---- apply ----
    let generation = match opts.action {
        Action::Switch => Some(
            opts.generation
                .unwrap_or_else(|| profile::number_for(p, &toplevel)),
        ),
        _ => None,
    };
    let mut journal = Journal {
        old: state.toplevel.clone(),
        new: toplevel.clone(),
        action: opts.action.as_str().into(),
        phase: Phase::Prepared,
        generation,
        old_generation: profile::default_number(p),
        stopped: units.stop.clone(),
        start: units.start.clone(),
        restart: units.restart.clone(),
        reload: units.reload.clone(),
    };
    journal.save(p)?;
    fault_point("prepared");

    // additions first, while the old generation is still complete: a
    // failed download leaves the host untouched
    let installs = PkgPlan {
        remove: vec![],
        ..pkg_plan.clone()
    };
    packages::apply(p, &installs, &mut state.packages)?;
    if let Some(s) = &secrets {
        crate::secrets::install_for_users(&t, s)?;
    }
    users::apply(p, &user_ops, &mut state)?;
    state.save(p)?;
    if let Some(s) = &secrets {
        // after users and groups exist (owners), before any unit starts
        let done = crate::secrets::install(&t, s)?;
        let added = crate::secrets::add_unit_jobs(&done, &mut units, &|u| {
            live_units && systemd::is_active(u)
        });
        for l in added {
            out(&l);
            report.changes.push(l);
        }
        journal.restart = units.restart.clone();
        journal.reload = units.reload.clone();
        journal.save(p)?;
    } else if p.is_live() {
        crate::secrets::remove_stale(p, old.as_ref(), false)?;
    }
    fault_point("users");
    if live_units {
        if let Some(e) = systemd::job("stop", &units.stop, None) {
            report.warnings.push(e);
        }
    }
    fault_point("stopped");

    journal.phase = Phase::Flipped;
    journal.save(p)?;
    fault_point("flip-journaled");
    if flip {
        symlink_atomic(&toplevel.join("etc"), &p.etc_static())?;
    }
    fault_point("flipped");
    for (src, text) in keys.values() {
        crate::write_atomic(src, text.as_bytes())?;
    }
    let ids = Ids::read(p);
    etc::apply_tree(&p.at("/etc"), &etc_ch.ops, &ids, None)?;
    state.etc = etc_ch.owned.clone();
    state.toplevel = Some(toplevel.clone());
    state.save(p)?;
    fault_point("etc");

    if !t.plan.tmpfiles.is_empty() {
        let f = p.state_dir().join("tmpfiles.conf");
        crate::write_atomic(&f, format!("{}\n", t.plan.tmpfiles.join("\n")).as_bytes())?;
        let mut cmd = Command::new("systemd-tmpfiles");
        cmd.arg("--create");
        if !p.is_live() {
            cmd.arg(format!("--root={}", p.root.display()));
        }
        run(cmd.arg(&f))?;
    }

    // homes again, now that new users exist
    let homes = home::plan(p, &t, &state.home, &ids)?;
    for h in &homes {
        if let Some(c) = h.changes.conflicts.first() {
            return Err(Error::Conflicts(vec![c.clone()]));
        }
        let home_dir = h.home.to_string_lossy().into_owned();
        let spec = t.plan.home.iter().find(|x| x.user == h.user);
        let acts: &[crate::plan::HomeActivation] = spec.map(|x| &x.activation[..]).unwrap_or(&[]);
        let vars = spec
            .map(|x| x.session_variables.clone())
            .unwrap_or_default();
        let has = |n: &str| acts.iter().any(|a| a.builtin && a.name == n);
        let link = |state: &mut State| -> Result<(), Error> {
            etc::apply_tree(&p.at(&home_dir), &h.changes.ops, &ids, Some((h.uid, h.gid)))?;
            if h.changes.owned.is_empty() {
                state.home.remove(&h.user);
            } else {
                state.home.insert(h.user.clone(), h.changes.owned.clone());
            }
            state.save(p)
        };
        // home-manager's order: scripts before `linkGeneration` run
        // before the files are linked, `reloadSystemd` handles user units
        if !has("linkGeneration") {
            link(&mut state)?;
        }
        for a in acts {
            if a.builtin {
                match a.name.as_str() {
                    "linkGeneration" => link(&mut state)?,
                    "reloadSystemd" if live_units => {
                        user_units(old.as_ref(), &t, &h.user, h.uid, &mut report, out)?
                    }
                    _ => {}
                }
            } else if !a.script.trim().is_empty() {
                home::run_script(p, &h.user, &home_dir, &vars, &a.name, &a.script)?;
                report
                    .changes
                    .push(format!("ran home.activation.{} for {}", a.name, h.user));
            }
        }
        if !has("reloadSystemd") && live_units {
            user_units(old.as_ref(), &t, &h.user, h.uid, &mut report, out)?;
        }
    }
    let removals = PkgPlan {
        install: vec![],
        new_owned: vec![],
        ..pkg_plan
    };
    packages::apply(p, &removals, &mut state.packages)?;
    state.save(p)?;

    let mut touched = Vec::new();
    let mut job_failed: Vec<(String, String)> = Vec::new();
    let units_changed = flip
        || !etc_ch.ops.is_empty()
        || !units.start.is_empty()
        || !units.restart.is_empty()
        || !units.reload.is_empty();
    if live_units && units_changed {
        // (a no-change switch skips the reload: it is most of its time)
        systemd::daemon_reload(None)?;
        fault_point("reloaded");
        // a unit to reload that is no longer running is started instead
        let (reload, mut start): (Vec<String>, Vec<String>) = units
            .reload
            .iter()
            .cloned()
            .partition(|u| systemd::is_active(u));
        start.extend(units.start.iter().cloned());
        for (verb, list) in [
            ("reload", &reload),
            ("restart", &units.restart),
            ("start", &start),
        ] {
            // all at once; if that fails, unit by unit (repeating a
            // finished job is harmless) so a failure names its unit
            if systemd::job(verb, list, None).is_none() {
                touched.extend(list.iter().cloned());
                continue;
            }
            for u in list.iter() {
                match systemd::job(verb, std::slice::from_ref(u), None) {
                    Some(e) => job_failed.push((u.clone(), e)),
                    None => touched.push(u.clone()),
                }
            }
        }
    }
    fault_point("units");

    if matches!(opts.action, Action::Switch | Action::Test) {
        std::fs::create_dir_all(p.run_dir()).map_err(io_err(&p.run_dir()))?;
        symlink_atomic(&toplevel, &p.current_system())?;
    }
    if let Some(n) = generation {
        profile::add(p, n, &toplevel)?;
        fault_point("profile-link");
        profile::set_default(p, n)?;
        report.generation = Some(n);
    }
    Journal::remove(p)?;
    fault_point("done");

    if live_units && !systemd::at_boot() {
        touched.sort();
        touched.dedup();
        for (u, e) in job_failed {
            report.failed_units.push(crate::engine::FailedUnit {
                log: format!("{e}\n{}", systemd::last_log(&u, 10)),
                unit: u,
            });
        }
        if !touched.is_empty() {
            // a Type=simple service "starts" before its process can fail
            // (a missing binary, an early crash): give it a moment
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        for u in touched {
            if let Some(why) = systemd::unit_problem(&u) {
                report.failed_units.push(crate::engine::FailedUnit {
                    log: format!("{why}\n{}", systemd::last_log(&u, 10)),
                    unit: u,
                });
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(active: &str) -> systemd::UnitState {
        systemd::UnitState {
            load: "loaded".into(),
            active: active.into(),
            sub: "running".into(),
        }
    }

    #[test]
    fn unit_dirs_plan() {
        let base = std::env::temp_dir().join(format!("ox-units-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (old, new) = (base.join("old"), base.join("new"));
        for d in [&old, &new] {
            std::fs::create_dir_all(d.join("multi-user.target.wants")).unwrap();
        }
        let w = |d: &Path, n: &str, t: &str| std::fs::write(d.join(n), t).unwrap();
        w(&old, "sock.service", "[Service]\nExecStart=/a\n");
        w(&new, "sock.service", "[Service]\nExecStart=/b\n");
        w(&old, "sock.socket", "[Socket]\nListenStream=1\n");
        w(&new, "sock.socket", "[Socket]\nListenStream=1\n");
        w(&old, "plain.service", "[Service]\nExecStart=/a\n");
        w(&new, "plain.service", "[Service]\nExecStart=/b\n");
        w(&new, "fresh.service", "[Service]\nExecStart=/a\n");
        w(&new, "idle.service", "[Service]\nExecStart=/a\n");
        w(&new, "tmpl@.service", "[Service]\nExecStart=/a %i\n");
        for u in ["fresh.service", "tmpl@.service"] {
            std::os::unix::fs::symlink(
                format!("../{u}"),
                new.join("multi-user.target.wants").join(u),
            )
            .unwrap();
        }
        w(&old, "gone.service", "[Service]\nExecStart=/a\n");
        let states: BTreeMap<String, systemd::UnitState> = [
            ("sock.service", "active"),
            ("sock.socket", "active"),
            ("plain.service", "active"),
            ("gone.service", "active"),
            ("multi-user.target", "active"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), st(v)))
        .collect();
        let up = plan_unit_dirs(Some(&old), &new, &states);
        assert_eq!(
            up.stop,
            vec![
                "gone.service",
                "plain.service",
                "sock.service",
                "sock.socket"
            ]
        );
        // the socket, not the service, is started again; idle.service is
        // wanted by nothing; the template is never started by name
        assert_eq!(
            up.start,
            vec!["fresh.service", "plain.service", "sock.socket"]
        );
        assert!(up.restart.is_empty() && up.reload.is_empty());
        let _ = std::fs::remove_dir_all(&base);
    }

    /// A stock unit (not in the generation) changed only through a
    /// drop-in: reloaded for an `X-Reload-Triggers` change, restarted
    /// for an override, never stopped or started; left alone when it is
    /// not running or the drop-in is the same.
    #[test]
    fn stock_units_follow_their_dropins() {
        let base = std::env::temp_dir().join(format!("ox-dropins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (old, new) = (base.join("old"), base.join("new"));
        let w = |d: &Path, n: &str, t: &str| {
            std::fs::create_dir_all(d.join(n).parent().unwrap()).unwrap();
            std::fs::write(d.join(n), t).unwrap()
        };
        w(
            &old,
            "ssh.service.d/ox.conf",
            "[Unit]\nX-Reload-Triggers=aaa\n",
        );
        w(
            &new,
            "ssh.service.d/ox.conf",
            "[Unit]\nX-Reload-Triggers=bbb\n",
        );
        w(&old, "cron.service.d/ox.conf", "[Service]\nNice=1\n");
        w(&new, "cron.service.d/ox.conf", "[Service]\nNice=2\n");
        w(&old, "same.service.d/ox.conf", "[Service]\nNice=1\n");
        w(&new, "same.service.d/ox.conf", "[Service]\nNice=1\n");
        w(&new, "idle.service.d/ox.conf", "[Service]\nNice=1\n");
        // its drop-in goes away: the override is undone by a restart
        w(&old, "dropped.service.d/ox.conf", "[Service]\nNice=1\n");
        std::fs::create_dir_all(&new).unwrap();
        let states: BTreeMap<String, systemd::UnitState> = [
            "ssh.service",
            "cron.service",
            "same.service",
            "dropped.service",
        ]
        .iter()
        .map(|k| (k.to_string(), st("active")))
        .collect();
        let up = plan_unit_dirs(Some(&old), &new, &states);
        assert_eq!(up.reload, vec!["ssh.service"]);
        assert_eq!(up.restart, vec!["cron.service", "dropped.service"]);
        assert!(
            up.stop.is_empty() && up.start.is_empty(),
            "{:?} {:?}",
            up.stop,
            up.start
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
