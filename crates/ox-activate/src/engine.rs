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
    let new_dir = new.path.join("etc/systemd/system");
    let old_dir = old.map(|o| o.path.join("etc/systemd/system"));
    let mut names: BTreeSet<String> = new.unit_names("system").into_iter().collect();
    if let Some(o) = old {
        names.extend(o.unit_names("system"));
    }
    let mut up = UnitPlan::default();
    for name in names {
        if name.ends_with(".wants") || name.ends_with(".requires") || name.ends_with(".d") {
            continue;
        }
        let o = old_dir.as_ref().and_then(|d| unit::load(d, &name));
        let n = unit::load(&new_dir, &name);
        let active = states.get(&name).is_some_and(|s| s.is_active());
        if active {
            match unit::decide(&name, o.as_ref(), n.as_ref()) {
                UA::Nothing => {}
                UA::Stop => up.stop.push(name),
                UA::StopStart => {
                    up.stop.push(name.clone());
                    up.start.push(name);
                }
                UA::Restart => up.restart.push(name),
                UA::Reload => up.reload.push(name),
                UA::Skip => up.skip.push(name),
                UA::Start => up.start.push(name),
            }
        } else if let Some(n) = &n {
            let changed = o.as_ref() != Some(n);
            if changed && wanted_by_active_target(&new_dir, &name, states) {
                up.start.push(name);
            }
        }
    }
    up
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
    match j.phase {
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
            }
            if let Some(n) = j.generation {
                if Some(n) != j.old_generation && profile::default_number(p) != Some(n) {
                    let _ = profile::remove(p, n);
                }
            }
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
    let user_ops: Vec<UserOp> = users::plan(p, &t.plan, &state, &ids)?;
    let etc_desired = etc::desired_etc(&t)?;
    let etc_ch = etc::plan_tree(
        &p.at("/etc"),
        &etc_desired,
        &state.etc,
        &ids,
        Some("/etc/ox-static/"),
        "/etc/",
    );
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
    }
    lines.extend(packages::describe(&pkg_plan));
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
            "NOT restarting changed units (X-RestartIfChanged=false): {}",
            units.skip.join(" ")
        ));
    }
    if !t.plan.tmpfiles.is_empty() {
        lines.push(format!("apply {} tmpfiles rule(s)", t.plan.tmpfiles.len()));
    }
    for h in &t.plan.home {
        for a in &h.activation {
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
    users::apply(p, &user_ops, &mut state)?;
    state.save(p)?;
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
        etc::apply_tree(
            &p.at(&h.home.to_string_lossy()),
            &h.changes.ops,
            &ids,
            Some((h.uid, h.gid)),
        )?;
        if h.changes.owned.is_empty() {
            state.home.remove(&h.user);
        } else {
            state.home.insert(h.user.clone(), h.changes.owned.clone());
        }
    }
    state.save(p)?;
    for h in &homes {
        report.changes.extend(home::run_scripts(
            p,
            &t,
            &h.user,
            &h.home.to_string_lossy(),
        )?);
    }
    let removals = PkgPlan {
        install: vec![],
        new_owned: vec![],
        ..pkg_plan
    };
    packages::apply(p, &removals, &mut state.packages)?;
    state.save(p)?;

    let mut touched = Vec::new();
    if live_units {
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
            if let Some(e) = systemd::job(verb, list, None) {
                report.warnings.push(e);
            }
            touched.extend(list.iter().cloned());
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

    if live_units {
        touched.sort();
        touched.dedup();
        for u in touched {
            if systemd::is_failed(&u) {
                report.failed_units.push(crate::engine::FailedUnit {
                    log: systemd::last_log(&u, 10),
                    unit: u,
                });
            }
        }
    }
    Ok(report)
}
