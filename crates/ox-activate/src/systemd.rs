//! The running systemd, through `systemctl` and `journalctl`.

use std::collections::BTreeMap;
use std::process::Command;

use crate::{run, Error};

/// Set while activating from `ox-boot.service`: jobs are only queued
/// (`--no-block`), since a job waiting for a unit ordered after
/// sysinit.target would wait for ox-boot.service itself.
pub static AT_BOOT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn at_boot() -> bool {
    AT_BOOT.load(std::sync::atomic::Ordering::SeqCst)
}

/// Whether systemd is PID 1 here (its runtime directory exists).
pub fn running() -> bool {
    std::path::Path::new("/run/systemd/system").is_dir()
}

#[derive(Clone, Debug)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
}

impl UnitState {
    pub fn is_active(&self) -> bool {
        matches!(self.active.as_str(), "active" | "activating" | "reloading")
    }
}

/// All units systemd knows, by name.
pub fn list_units(user: Option<&str>) -> Result<BTreeMap<String, UnitState>, Error> {
    let mut cmd = systemctl(user);
    cmd.args([
        "list-units",
        "--all",
        "--plain",
        "--no-legend",
        "--full",
        "--no-pager",
    ]);
    let out = run(&mut cmd)?;
    let mut m = BTreeMap::new();
    for l in out.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 4 {
            m.insert(
                f[0].to_string(),
                UnitState {
                    load: f[1].into(),
                    active: f[2].into(),
                    sub: f[3].into(),
                },
            );
        }
    }
    Ok(m)
}

/// `systemctl`, or `systemctl --user` talking to `user`'s manager
/// (as that user, through its runtime dir: there is no machined to
/// route `--machine=user@`).
fn systemctl(user: Option<&str>) -> Command {
    match user {
        None => Command::new("systemctl"),
        Some(u) => {
            let uid = crate::etc::Ids::read(&crate::Paths::new(std::path::Path::new("/")))
                .uid(u)
                .unwrap_or(0);
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "env"])
                .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
                .args(["systemctl", "--user"]);
            c
        }
    }
}

/// Make `user`'s systemd manager run without a login (linger) and wait
/// until it answers.
pub fn user_manager(user: &str, uid: u32) -> Result<(), Error> {
    run(Command::new("loginctl").args(["enable-linger", user]))?;
    let sock = std::path::PathBuf::from(format!("/run/user/{uid}/systemd/private"));
    for _ in 0..400 {
        if sock.exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(Error::Other(format!(
        "the systemd user manager of {user} (user@{uid}.service) did not start"
    )))
}

pub fn daemon_reload(user: Option<&str>) -> Result<(), Error> {
    run(systemctl(user).arg("daemon-reload")).map(|_| ())
}

/// `systemctl VERB units…`; a failed job is reported, not fatal here
/// (the caller checks the units' states afterwards).
pub fn job(verb: &str, units: &[String], user: Option<&str>) -> Option<String> {
    if units.is_empty() {
        return None;
    }
    let mut cmd = systemctl(user);
    if at_boot() {
        cmd.arg("--no-block");
    }
    match run(cmd.arg(verb).args(units)) {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

pub fn is_failed(unit: &str) -> bool {
    Command::new("systemctl")
        .args(["is-failed", "--quiet", unit])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn is_active(unit: &str) -> bool {
    Command::new("systemctl")
        .args(["is-active", "--quiet", unit])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Why a unit that activation started, restarted or reloaded is not
/// fine, or `None`. A finished oneshot (inactive, result success) is fine.
pub fn unit_problem(unit: &str) -> Option<String> {
    let out = Command::new("systemctl")
        .args([
            "show",
            "-p",
            "LoadState,ActiveState,SubState,Result,NRestarts",
            unit,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .unwrap_or("")
            .to_string()
    };
    let (load, active, sub, result) = (
        get("LoadState"),
        get("ActiveState"),
        get("SubState"),
        get("Result"),
    );
    if load != "loaded" {
        return Some(format!("load state {load}"));
    }
    if active == "failed" || (active == "activating" && sub == "auto-restart") {
        return Some(format!("{active} ({sub}), result {result}"));
    }
    // Restart= hides a crash loop behind "activating"/"active"
    let restarts: u64 = get("NRestarts").parse().unwrap_or(0);
    if restarts > 0 {
        return Some(format!(
            "{active} ({sub}), restarted {restarts} time(s) since activation"
        ));
    }
    if !result.is_empty() && result != "success" {
        return Some(format!("{active} ({sub}), result {result}"));
    }
    None
}

/// The last journal lines of a unit, for failure reports.
pub fn last_log(unit: &str, lines: usize) -> String {
    Command::new("journalctl")
        .args([
            "-u",
            unit,
            "-n",
            &lines.to_string(),
            "--no-pager",
            "-o",
            "short-iso",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}
