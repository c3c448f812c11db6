//! `ox activate`, `ox switch`, `ox dry-activate`, `ox generations`,
//! `ox rollback`, `ox gc`: the command-line face of crate `ox-activate`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ox_activate::engine::{Action, Options, Report};
use ox_activate::{profile, Error, Paths};

/// Exit codes: 1 = refused or failed before any change, 2 = failed
/// while applying (the journal finishes or undoes it on the next run),
/// 4 = activated, but units failed (as switch-to-configuration-ng).
const EXIT_APPLY: u8 = 2;
const EXIT_UNITS: u8 = 4;

#[derive(clap::Args)]
pub struct ActivateArgs {
    /// The toplevel store path to activate (from `ox build`).
    toplevel: Option<PathBuf>,
    /// switch (default), test, boot or dry-activate.
    #[arg(default_value = "switch")]
    action: String,
    #[command(flatten)]
    common: Common,
    /// Only finish or undo an interrupted activation, then exit.
    #[arg(long)]
    recover: bool,
    /// Early-boot entry (ox-boot.service): activate the default generation.
    #[arg(long)]
    boot_time: bool,
    /// Profile generation number to use (rollback).
    #[arg(long, hide = true)]
    generation: Option<u32>,
}

#[derive(clap::Args, Clone)]
pub struct Common {
    /// Activate an alternate root (an image or chroot; units are not touched).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Show what would change and ask once before doing it.
    #[arg(long)]
    ask: bool,
    /// Run in this process instead of a detached `systemd-run` unit.
    #[arg(long)]
    no_detach: bool,
}

#[derive(clap::Args)]
pub struct SwitchArgs {
    /// The toplevel to switch to (from `ox build`).
    #[arg(conflicts_with = "flake")]
    toplevel: Option<PathBuf>,
    /// Build this host first (`REF#HOST`, via `ox build --flake`).
    #[arg(long, value_name = "REF#HOST")]
    flake: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct DryArgs {
    toplevel: PathBuf,
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

#[derive(clap::Args)]
pub struct GenerationsArgs {
    #[arg(long)]
    json: bool,
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    /// Generation to go to (default: the one before the current default).
    #[arg(long)]
    to: Option<u32>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct GcArgs {
    /// Keep the newest N generations.
    #[arg(long, default_value_t = 5)]
    keep: usize,
    /// Also keep generations younger than this (e.g. 30d, 12h).
    #[arg(long)]
    keep_since: Option<String>,
    /// Only list what would be removed.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

fn say(s: &str) {
    // the terminal may be gone (dropped SSH session): never fail on it
    let _ = writeln!(std::io::stderr(), "{s}");
}

fn err_text(e: &Error) -> String {
    format!("error: {e}\n")
}

pub fn activate(a: ActivateArgs) -> Result<ExitCode, String> {
    if a.recover {
        return match ox_activate::recover(&a.common.root, &mut |l| say(l)) {
            Ok(r) => Ok(finish(&r, None)),
            Err(e) => Err(err_text(&e)),
        };
    }
    if a.boot_time {
        return match ox_activate::boot_time(&a.common.root, &mut |l| say(l)) {
            Ok(r) => Ok(finish(&r, None)),
            Err(e) => Err(err_text(&e)),
        };
    }
    let Some(t) = a.toplevel else {
        return Err("error: ox activate needs a TOPLEVEL (or --recover)\n".into());
    };
    let action: Action = a.action.parse().map_err(|e| format!("error: {e}\n"))?;
    run_activation(&t, action, &a.common, a.generation)
}

/// `ox switch` (action switch), `ox test` (activate, not the boot
/// default) and `ox boot` (boot default only).
pub fn switch(a: SwitchArgs) -> Result<ExitCode, String> {
    switch_like(a, Action::Switch)
}

pub fn test(a: SwitchArgs) -> Result<ExitCode, String> {
    switch_like(a, Action::Test)
}

pub fn boot(a: SwitchArgs) -> Result<ExitCode, String> {
    switch_like(a, Action::Boot)
}

fn switch_like(a: SwitchArgs, action: Action) -> Result<ExitCode, String> {
    let t = match (a.toplevel, &a.flake) {
        (Some(t), _) => t,
        (None, Some(f)) => build_host(f)?,
        (None, None) => {
            return Err(format!(
                "error: ox {} needs a TOPLEVEL (from `ox build`) or --flake REF#HOST\n",
                action.as_str()
            ))
        }
    };
    let root = absolute(&a.common.root);
    let t = absolute(&t);
    // the diff against the running generation, before anything happens
    if action == Action::Boot {
        // nothing runs now
    } else if let Some(cur) = profile::read_system_link(&Paths::new(&root).current_system()) {
        if cur != t {
            match ox_system::diff::diff(&cur, &t) {
                Ok(d) => say(d.render(crate::stderr_color()).trim_end()),
                Err(e) => say(&format!("warning: no diff against {}: {e}", cur.display())),
            }
        }
    }
    run_activation(&t, action, &a.common, None)
}

/// Build a host's toplevel with `ox build --flake`, in a child process
/// so the evaluator's memory is gone before activation starts.
pub(crate) fn build_host(flake: &str) -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("error: cannot find the ox binary: {e}\n"))?;
    let out = std::process::Command::new(exe)
        .args(["build", "--no-out-link", "--flake", flake])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("error: cannot run ox build: {e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "error: building {flake} failed; nothing was activated\n"
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('/'))
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| format!("error: ox build --flake {flake} printed no store path\n"))
}

pub fn dry_activate(a: DryArgs) -> Result<ExitCode, String> {
    let common = Common {
        root: a.root,
        ask: false,
        no_detach: true,
    };
    run_activation(&a.toplevel, Action::DryActivate, &common, None)
}

/// `p` against the current directory where it is relative.
pub(crate) fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn print_plan(lines: &[String]) {
    if lines.is_empty() {
        say("nothing would change");
    }
    for l in lines {
        say(&format!("would {l}"));
    }
}

fn run_activation(
    toplevel: &Path,
    action: Action,
    c: &Common,
    generation: Option<u32>,
) -> Result<ExitCode, String> {
    let toplevel = absolute(toplevel);
    let root = absolute(&c.root);
    if c.ask && action != Action::DryActivate {
        let dry = Options {
            root: root.clone(),
            toplevel: toplevel.clone(),
            action: Action::DryActivate,
            generation,
        };
        let r = ox_activate::activate(&dry, &mut |l| say(l)).map_err(|e| err_text(&e))?;
        print_plan(&r.changes);
        if !std::io::stdin().is_terminal() && std::env::var_os("OX_ASSUME_TTY").is_none() {
            return Err("error: --ask needs a terminal to answer on\n".into());
        }
        eprint!("{} to {}? [y/N] ", action.as_str(), toplevel.display());
        let mut ans = String::new();
        let _ = std::io::stdin().read_line(&mut ans);
        if !matches!(ans.trim(), "y" | "Y" | "yes") {
            return Err("aborted; nothing was changed\n".into());
        }
    }
    let detach = !c.no_detach
        && root == Path::new("/")
        && matches!(action, Action::Switch | Action::Test)
        && std::env::var_os("OX_ACTIVATE_DETACHED").is_none()
        && ox_activate::systemd::running();
    if detach {
        return run_detached(&toplevel, action, generation);
    }
    let opts = Options {
        root,
        toplevel: toplevel.clone(),
        action,
        generation,
    };
    if action != Action::DryActivate {
        say(&format!("{}: {}", action.as_str(), toplevel.display()));
    }
    match ox_activate::activate(&opts, &mut |l| say(l)) {
        Ok(r) => {
            if action == Action::DryActivate {
                for w in &r.warnings {
                    say(&format!("warning: {w}"));
                }
                print_plan(&r.changes);
                return Ok(ExitCode::SUCCESS);
            }
            Ok(finish(&r, Some(&toplevel)))
        }
        Err(e @ (Error::Conflicts(_) | Error::Plan { .. } | Error::Locked(_))) => Err(err_text(&e)),
        Err(e) => {
            say(&format!(
                "error: activation of {} failed: {e}\n\
                 the journal in /ox/var/activate makes the next run finish or undo it",
                toplevel.display()
            ));
            Ok(ExitCode::from(EXIT_APPLY))
        }
    }
}

fn finish(r: &Report, toplevel: Option<&Path>) -> ExitCode {
    for w in &r.warnings {
        say(&format!("warning: {w}"));
    }
    if !r.failed_units.is_empty() {
        for f in &r.failed_units {
            say(&format!(
                "--- {} failed; last journal lines:\n{}",
                f.unit,
                f.log.trim_end()
            ));
        }
        let names: Vec<&str> = r.failed_units.iter().map(|f| f.unit.as_str()).collect();
        say(&format!(
            "error: the following units failed: {}",
            names.join(" ")
        ));
        return ExitCode::from(EXIT_UNITS);
    }
    if let Some(t) = toplevel {
        match r.generation {
            Some(n) => say(&format!("done: generation {n} ({})", t.display())),
            None => say(&format!("done: {}", t.display())),
        }
    }
    ExitCode::SUCCESS
}

/// Re-run this activation as a transient systemd unit, so that losing
/// the terminal (an SSH drop) cannot stop it half-way; `--wait --pipe`
/// still shows its output and passes its exit status back.
fn run_detached(
    toplevel: &Path,
    action: Action,
    generation: Option<u32>,
) -> Result<ExitCode, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("error: cannot find the ox binary: {e}\n"))?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let unit = format!("ox-switch-{secs}-{}", std::process::id());
    let mut cmd = std::process::Command::new("systemd-run");
    cmd.arg(format!("--unit={unit}"))
        // no --collect: a failed unit must stay loaded until its result
        // is read below (then reset-failed unloads it)
        .args(["--wait", "--pipe", "--quiet", "--service-type=exec"])
        .arg("--setenv=OX_ACTIVATE_DETACHED=1");
    if let Ok(f) = std::env::var("OX_ACTIVATE_FAULT") {
        cmd.arg(format!("--setenv=OX_ACTIVATE_FAULT={f}"));
    }
    cmd.arg(exe)
        .arg("activate")
        .arg(toplevel)
        .arg(action.as_str())
        .arg("--no-detach");
    if let Some(n) = generation {
        cmd.arg(format!("--generation={n}"));
    }
    let st = cmd
        .status()
        .map_err(|e| format!("error: cannot run systemd-run: {e}\n"))?;
    let client = match st.code() {
        Some(c) => c.clamp(0, 255) as u8,
        None => EXIT_APPLY,
    };
    Ok(ExitCode::from(detached_outcome(
        &format!("{unit}.service"),
        client,
    )))
}

/// `systemctl show` properties of a unit (empty when systemctl fails).
fn unit_props(unit: &str) -> std::collections::BTreeMap<String, String> {
    std::process::Command::new("systemctl")
        .args([
            "show",
            "--property=LoadState,ActiveState,Result,ExecMainCode,ExecMainStatus",
            unit,
        ])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The exit status of a detached activation, from systemd's record of
/// the unit rather than from `systemd-run --wait` alone: that client
/// can return while the unit still runs (it gives up when a unit state
/// query fails, e.g. under load or across a daemon-reload), and then
/// the caller would see a failed switch that is in fact still going on,
/// holding the lock, with its journal not written yet. So wait until
/// the unit has really stopped, then take its result.
fn detached_outcome(unit: &str, client: u8) -> u8 {
    let mut seen_running = false;
    loop {
        let p = unit_props(unit);
        let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
        match get("ActiveState") {
            "active" | "activating" | "deactivating" | "reloading" | "refreshing" => {
                seen_running = true;
                // polls a real condition (the unit's state), not a delay
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
            _ => {}
        }
        if get("LoadState") != "loaded" {
            // unloaded: a successful transient unit is collected at once
            // (a failed one stays until reset-failed); if it never showed
            // up, systemd-run's own status is all there is
            return if seen_running || client == 0 {
                0
            } else {
                client
            };
        }
        let code = if get("Result") == "success" {
            0
        } else if get("ExecMainCode") == "1" {
            // CLD_EXITED: the activation's own exit status
            get("ExecMainStatus")
                .parse::<u8>()
                .ok()
                .filter(|c| *c != 0)
                .unwrap_or(EXIT_APPLY)
        } else {
            // killed or dumped: interrupted while applying
            EXIT_APPLY
        };
        let _ = std::process::Command::new("systemctl")
            .args(["reset-failed", unit])
            .stderr(std::process::Stdio::null())
            .status();
        return code;
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for seconds since the epoch.
fn fmt_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn generations(a: GenerationsArgs) -> Result<ExitCode, String> {
    let p = Paths::new(&absolute(&a.root));
    let gens = profile::list(&p);
    let mut out = std::io::stdout();
    if a.json {
        let s = serde_json::to_string_pretty(&gens).map_err(|e| format!("error: {e}\n"))?;
        let _ = writeln!(out, "{s}");
        return Ok(ExitCode::SUCCESS);
    }
    if gens.is_empty() {
        say("no system generations yet (ox switch makes the first)");
    }
    for g in &gens {
        let mut marks = vec![];
        if g.current {
            marks.push("current");
        }
        if g.booted {
            marks.push("booted");
        }
        if g.default {
            marks.push("default");
        }
        let _ = writeln!(
            out,
            "{:>4}  {}  {:<8} {}{}",
            g.number,
            fmt_date(g.date),
            g.ox_version,
            g.toplevel.display(),
            if marks.is_empty() {
                String::new()
            } else {
                format!("  ({})", marks.join(", "))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(a: RollbackArgs) -> Result<ExitCode, String> {
    let p = Paths::new(&absolute(&a.common.root));
    let nums = profile::numbers(&p);
    let cur = profile::default_number(&p);
    let target = match a.to {
        Some(n) => n,
        None => {
            let cur = cur.ok_or("error: there is no system profile to roll back from\n")?;
            *nums.iter().rev().find(|n| **n < cur).ok_or_else(|| {
                format!("error: generation {cur} is the oldest; nothing to roll back to\n")
            })?
        }
    };
    let t = profile::toplevel_of(&p, target).ok_or_else(|| {
        format!("error: generation {target} does not exist (see `ox generations`)\n")
    })?;
    say(&format!("rolling back to generation {target}"));
    run_activation(&t, Action::Switch, &a.common, Some(target))
}

fn parse_age(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| {
        format!("error: --keep-since `{s}`: expected a number and unit, like 30d\n")
    })?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "" | "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "error: --keep-since `{s}`: unit must be s, m, h, d or w\n"
            ))
        }
    };
    Ok(n * mult)
}

pub fn gc(a: GcArgs) -> Result<ExitCode, String> {
    let p = Paths::new(&absolute(&a.root));
    let since = a.keep_since.as_deref().map(parse_age).transpose()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let gens = profile::list(&p);
    let victims = profile::gc_victims(&gens, a.keep, since, now);
    for n in &victims {
        if a.dry_run {
            say(&format!("would remove generation {n}"));
        } else {
            profile::remove(&p, *n).map_err(|e| err_text(&e))?;
            say(&format!("removed generation {n}"));
        }
    }
    say(&format!(
        "{} generation(s) {}, {} kept",
        victims.len(),
        if a.dry_run { "to remove" } else { "removed" },
        gens.len() - victims.len()
    ));
    if !victims.is_empty() && !a.dry_run {
        // profile links are the store's GC roots; the paths go with it
        say("`ox store gc` deletes the store paths no generation keeps alive any more");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_and_ages() {
        assert_eq!(super::fmt_date(0), "1970-01-01 00:00:00");
        assert_eq!(super::fmt_date(1_795_000_000), "2026-11-18 11:06:40");
        assert_eq!(super::parse_age("30d").unwrap(), 30 * 86400);
        assert_eq!(super::parse_age("12h").unwrap(), 12 * 3600);
        assert!(super::parse_age("3y").is_err());
    }
}
