//! The running systemd, through `systemctl` and `journalctl`.

use std::collections::BTreeMap;
use std::process::Command;

use crate::{run, Error};

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

fn systemctl(user: Option<&str>) -> Command {
    let mut c = Command::new("systemctl");
    if let Some(u) = user {
        c.arg(format!("--machine={u}@")).arg("--user");
    }
    c
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
    match run(systemctl(user).arg(verb).args(units)) {
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
