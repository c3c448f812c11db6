//! The remote half of a deploy: the activation job and its state
//! machine, which runs detached from the SSH session (a transient
//! systemd unit), so a dropped connection can neither stop an
//! activation halfway nor stop the rollback that a missing
//! confirmation triggers.
//!
//! Every job lives in `<state>/deploy/<id>/`: `job.json` (what to do),
//! `state.json` (where it is; written atomically), `log` (the output of
//! the activations it ran) and `confirm` (created by the deployer's
//! confirmation, over a fresh SSH connection).
//!
//! ```text
//! activating ──ok──▶ awaiting-confirm ──confirm file──▶ confirmed ──▶ done
//!     │                     │ deadline
//!     │ exit 1              ▼
//!     ├──────▶ failed   rolling-back ──▶ rolled-back | rollback-failed
//!     │ exit 2/4 (changed)  ▲
//!     └─────────────────────┘
//! ```
//!
//! `switch` activates with `test` first and makes the generation the
//! boot default only after the confirmation, so a host that loses power
//! while waiting boots the previous generation. `boot` and
//! `dry-activate` change nothing live and need no confirmation.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;

/// What the deployer asked for.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub toplevel: String,
    pub action: String,
    /// What `/run/ox/current-system` was before: the rollback target.
    pub previous: Option<String>,
    pub confirm_timeout_secs: u64,
}

/// Where a job is. `reason` explains failures and rollbacks.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unix milliseconds when an unconfirmed activation is rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

impl State {
    fn new(s: &str) -> State {
        State {
            state: s.into(),
            reason: None,
            deadline_ms: None,
            previous: None,
        }
    }
    fn why(s: &str, reason: String) -> State {
        State {
            reason: Some(reason),
            ..State::new(s)
        }
    }
    /// No further transitions.
    pub fn is_final(&self) -> bool {
        matches!(
            self.state.as_str(),
            "done" | "failed" | "rolled-back" | "rollback-failed"
        )
    }
}

/// The marker before the state line the remote prints, so the deployer
/// can tell it from activation output.
pub const STATE_PREFIX: &str = "@ox-deploy-state ";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Local(format!("{}: {e}", what.display()))
}

/// `<state dir>/deploy`.
pub fn deploy_dir() -> PathBuf {
    ox_localstore::StoreConfig::from_env()
        .state_dir
        .join("deploy")
}

fn job_dir(id: &str) -> Result<PathBuf, Error> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::Protocol(format!("bad job id `{id}`")));
    }
    Ok(deploy_dir().join(id))
}

pub fn read_state(dir: &Path) -> Result<State, Error> {
    let p = dir.join("state.json");
    let s = fs::read_to_string(&p).map_err(io(&p))?;
    serde_json::from_str(&s).map_err(|e| Error::Local(format!("{}: {e}", p.display())))
}

fn write_state(dir: &Path, st: &State) -> Result<(), Error> {
    let tmp = dir.join("state.json.tmp");
    let data = serde_json::to_vec(st).map_err(|e| Error::Local(e.to_string()))?;
    fs::write(&tmp, data).map_err(io(&tmp))?;
    fs::rename(&tmp, dir.join("state.json")).map_err(io(&tmp))
}

fn current_system() -> Option<String> {
    fs::read_link("/run/ox/current-system")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// `ox deploy-remote activate`: records the job, starts it detached and
/// follows it (log lines to `out`) until it waits for the confirmation
/// or ends. Returns the state it stopped at.
pub fn start_and_follow(
    ox: &Path,
    id: &str,
    toplevel: &str,
    action: &str,
    confirm_timeout: u64,
    out: &mut dyn Write,
) -> Result<State, Error> {
    if !matches!(action, "switch" | "test" | "boot" | "dry-activate") {
        return Err(Error::Protocol(format!("unknown action `{action}`")));
    }
    let dir = job_dir(id)?;
    if !Path::new(toplevel).join("activation.json").is_file() {
        return Err(Error::Protocol(format!(
            "{toplevel} is not a toplevel on this host (no activation.json)"
        )));
    }
    prune(&deploy_dir(), KEEP_JOBS);
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let job = Job {
        id: id.into(),
        toplevel: toplevel.into(),
        action: action.into(),
        previous: current_system(),
        confirm_timeout_secs: confirm_timeout,
    };
    let p = dir.join("job.json");
    fs::write(
        &p,
        serde_json::to_vec_pretty(&job).map_err(|e| Error::Local(e.to_string()))?,
    )
    .map_err(io(&p))?;
    write_state(&dir, &State::new("activating"))?;
    fs::write(dir.join("log"), b"").map_err(io(&dir))?;
    spawn_detached(ox, id)?;
    // not at `rolling-back`: the deployer wants to know how that ended
    follow(&dir, out, |s| s.state == "awaiting-confirm" || s.is_final())
}

/// How many finished jobs' directories (state and log) stay for later
/// inspection.
const KEEP_JOBS: usize = 20;

/// Removes the oldest finished job directories beyond `keep`; running
/// jobs are never touched.
fn prune(base: &Path, keep: usize) {
    let Ok(rd) = fs::read_dir(base) else {
        return;
    };
    let mut done: Vec<(SystemTime, PathBuf)> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("job.json").is_file())
        .filter(|p| read_state(p).is_ok_and(|s| s.is_final()))
        .filter_map(|p| Some((fs::metadata(p.join("state.json")).ok()?.modified().ok()?, p)))
        .collect();
    done.sort();
    let n = done.len().saturating_sub(keep);
    for (_, p) in done.into_iter().take(n) {
        let _ = fs::remove_dir_all(p);
    }
}

/// Runs `ox deploy-remote apply --id ID` outside this session: as a
/// transient systemd unit when systemd runs, else in a new session.
fn spawn_detached(ox: &Path, id: &str) -> Result<(), Error> {
    if Path::new("/run/systemd/system").is_dir() {
        let out = Command::new("systemd-run")
            .arg(format!("--unit=ox-deploy-{id}"))
            .args(["--quiet", "--collect", "--service-type=exec"])
            .arg("--description=ox deploy: activate, wait for confirmation, roll back")
            .arg(ox)
            .args(["deploy-remote", "apply", "--id", id])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Local(format!("systemd-run: {e}")))?;
        if !out.status.success() {
            return Err(Error::Local(format!(
                "systemd-run failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        return Ok(());
    }
    let mut c = Command::new(ox);
    c.args(["deploy-remote", "apply", "--id", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    c.spawn()
        .map_err(|e| Error::Local(format!("{}: {e}", ox.display())))?;
    Ok(())
}

/// Copies new log lines to `out` until `stop(state)`.
/// Whether the job's process still runs: `None` before it wrote its
/// pid, else whether that pid is a live `deploy-remote apply` of this job.
fn job_alive(dir: &Path) -> Option<bool> {
    // (a pid file caught between its creation and its write is empty:
    // that is "not started yet", not "dead")
    let pid: u32 = fs::read_to_string(dir.join("job.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let id = dir.file_name()?.to_string_lossy().into_owned();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    Some(cmdline.contains("apply") && cmdline.contains(&id))
}

fn died(dir: &Path) -> State {
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    State::why(
        "failed",
        format!(
            "the activation job ended without a result; see `journalctl -u ox-deploy-{id}` \
             (an interrupted activation is finished or undone by the next one)"
        ),
    )
}

fn follow(dir: &Path, out: &mut dyn Write, stop: impl Fn(&State) -> bool) -> Result<State, Error> {
    let started = Instant::now();
    let mut pos = 0u64;
    let logp = dir.join("log");
    let mut pump = |pos: &mut u64| {
        if let Ok(mut f) = fs::File::open(&logp) {
            if f.seek(SeekFrom::Start(*pos)).is_ok() {
                let mut buf = Vec::new();
                if f.read_to_end(&mut buf).is_ok() && !buf.is_empty() {
                    *pos += buf.len() as u64;
                    // a vanished reader (dropped session) must not stop us
                    let _ = out.write_all(&buf);
                    let _ = out.flush();
                }
            }
        }
    };
    loop {
        let st = read_state(dir)?;
        if stop(&st) {
            pump(&mut pos);
            return Ok(st);
        }
        pump(&mut pos);
        match job_alive(dir) {
            Some(false) => {
                // it may have written its last state just before exiting
                let st = read_state(dir)?;
                pump(&mut pos);
                return Ok(if stop(&st) { st } else { died(dir) });
            }
            None if started.elapsed() > Duration::from_secs(30) => {
                return Ok(State::why(
                    "failed",
                    "the activation job did not start within 30 s; nothing was changed".into(),
                ))
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `ox ARGS`, appending its output to the job's log. Returns the
/// exit code (-1 when killed) and the last line it printed.
fn run_ox(ox: &Path, dir: &Path, args: &[&str]) -> Result<(i32, String), Error> {
    let logp = dir.join("log");
    let mut log = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&logp)
        .map_err(io(&logp))?;
    let _ = writeln!(log, "$ ox {}", args.join(" "));
    let before = log.metadata().map(|m| m.len()).unwrap_or(0);
    let st = Command::new(ox)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io(&logp))?)
        .stderr(log.try_clone().map_err(io(&logp))?)
        .status()
        .map_err(|e| Error::Local(format!("{}: {e}", ox.display())))?;
    let all = fs::read(&logp).unwrap_or_default();
    let tail = String::from_utf8_lossy(&all[(before as usize).min(all.len())..]).into_owned();
    let last = tail
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string();
    Ok((st.code().unwrap_or(-1), last))
}

/// `ox deploy-remote apply`: the job itself (in the transient unit).
pub fn apply(ox: &Path, id: &str) -> Result<State, Error> {
    let dir = job_dir(id)?;
    let p = dir.join("job.json");
    let job: Job = serde_json::from_slice(&fs::read(&p).map_err(io(&p))?)
        .map_err(|e| Error::Local(format!("{}: {e}", p.display())))?;
    // who runs the job: followers stop waiting when it is gone
    let pidf = dir.join("job.pid");
    let tmp = dir.join("job.pid.tmp");
    fs::write(&tmp, std::process::id().to_string()).map_err(io(&tmp))?;
    fs::rename(&tmp, &pidf).map_err(io(&pidf))?;
    let st = run_job(ox, &dir, &job).unwrap_or_else(|e| State::why("failed", e.to_string()));
    write_state(&dir, &st)?;
    Ok(st)
}

fn run_job(ox: &Path, dir: &Path, job: &Job) -> Result<State, Error> {
    let t = job.toplevel.as_str();
    match job.action.as_str() {
        "dry-activate" | "boot" => {
            let mut args = vec!["activate", t, job.action.as_str()];
            if job.action == "boot" {
                args.push("--no-detach");
            }
            let (rc, last) = run_ox(ox, dir, &args)?;
            return Ok(if rc == 0 {
                State::new("done")
            } else {
                State::why(
                    "failed",
                    format!("`ox activate {}` exited {rc}: {last}", job.action),
                )
            });
        }
        _ => {}
    }
    let (rc, last) = run_ox(ox, dir, &["activate", t, "test", "--no-detach"])?;
    if rc == 1 {
        // refused before any change (conflict, lock, bad toplevel)
        return Ok(State::why(
            "failed",
            format!("activation refused, nothing was changed: {last}"),
        ));
    }
    if rc != 0 {
        return rollback(
            ox,
            dir,
            job,
            format!("activation failed (exit {rc}): {last}"),
        );
    }
    let deadline = now_ms() + job.confirm_timeout_secs * 1000;
    write_state(
        dir,
        &State {
            deadline_ms: Some(deadline),
            previous: job.previous.clone(),
            ..State::new("awaiting-confirm")
        },
    )?;
    let confirm = dir.join("confirm");
    let abort = dir.join("abort");
    while !confirm.exists() && !abort.exists() && now_ms() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !confirm.exists() && abort.exists() {
        let why = fs::read_to_string(&abort).unwrap_or_default();
        return rollback(
            ox,
            dir,
            job,
            format!("rolled back on request: {}", why.trim()),
        );
    }
    // the decision: a confirmation after this point is too late, and the
    // confirming side reads this state to learn which way it went
    if !confirm.exists() {
        return rollback(
            ox,
            dir,
            job,
            format!("no confirmation within {} s", job.confirm_timeout_secs),
        );
    }
    write_state(dir, &State::new("confirmed"))?;
    if job.action == "switch" {
        let (rc, last) = run_ox(ox, dir, &["activate", t, "boot", "--no-detach"])?;
        if rc != 0 {
            return Ok(State::why(
                "failed",
                format!("active and confirmed, but making it the boot default failed (exit {rc}): {last}"),
            ));
        }
    }
    Ok(State::new("done"))
}

fn rollback(ox: &Path, dir: &Path, job: &Job, reason: String) -> Result<State, Error> {
    let mut st = State::why("rolling-back", reason.clone());
    st.previous = job.previous.clone();
    write_state(dir, &st)?;
    let Some(prev) = &job.previous else {
        return Ok(State::why(
            "rollback-failed",
            format!("{reason}; there is no previous generation to roll back to (first activation on this host)"),
        ));
    };
    let (rc, last) = run_ox(ox, dir, &["activate", prev, "test", "--no-detach"])?;
    let mut st = if rc == 0 {
        State::why("rolled-back", reason)
    } else {
        State::why(
            "rollback-failed",
            format!("{reason}; rolling back to {prev} failed too (exit {rc}): {last}"),
        )
    };
    st.previous = job.previous.clone();
    Ok(st)
}

/// `ox deploy-remote confirm`: run over a fresh connection. While the
/// activation still runs it answers `activating` (the caller connects
/// again later: only a login made after the switch proves anything);
/// when it waits, it runs the health checks (`sh -c CMD`, each must exit
/// 0), then confirms and reports the job's decision. A failed check
/// answers `check-failed` and confirms nothing: the deployer tries
/// again until the deadline, after which the host rolls back.
pub fn confirm(id: &str, checks: &[String]) -> Result<State, Error> {
    let dir = job_dir(id)?;
    let st = read_state(&dir)?;
    if st.state != "awaiting-confirm" {
        return Ok(st);
    }
    let left = st.deadline_ms.map_or(0, |d| d.saturating_sub(now_ms()));
    for c in checks {
        if let Err(why) = run_check(c, Duration::from_millis(left.min(30_000))) {
            return Ok(State::why("check-failed", why));
        }
    }
    let p = dir.join("confirm");
    fs::write(&p, b"").map_err(io(&p))?;
    // the job decides within 100 ms; then a switch still sets the boot
    // default, which is quick
    wait_final(&dir, Duration::from_secs(600))
}

/// Runs one health check with a time limit; the error names it and says
/// how it failed.
fn run_check(cmd: &str, limit: Duration) -> Result<(), String> {
    let tmp = std::env::temp_dir().join(format!("ox-health-{}-{}", std::process::id(), now_ms()));
    let out = fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("health check `{cmd}`: {e}"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = fs::read_to_string(&tmp).unwrap_or_default();
    let _ = fs::remove_file(&tmp);
    let last = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| format!(": {l}"))
        .unwrap_or_default();
    match status {
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(format!(
            "health check `{cmd}` failed (exit {}){last}",
            st.code().unwrap_or(-1)
        )),
        None => Err(format!(
            "health check `{cmd}` did not finish within {} s",
            limit.as_secs()
        )),
    }
}

/// `ox deploy-remote abort`: the deployer takes an unconfirmed
/// activation back (another host of an all-or-nothing deploy failed).
/// Too late once confirmed; the job's state says which.
pub fn abort(id: &str, reason: &str) -> Result<State, Error> {
    let dir = job_dir(id)?;
    let p = dir.join("abort");
    fs::write(&p, reason.as_bytes()).map_err(io(&p))?;
    read_state(&dir)
}

fn wait_final(dir: &Path, max: Duration) -> Result<State, Error> {
    let start = Instant::now();
    loop {
        let st = read_state(dir)?;
        if st.is_final() || start.elapsed() > max {
            return Ok(st);
        }
        if job_alive(dir) == Some(false) {
            let st = read_state(dir)?;
            return Ok(if st.is_final() { st } else { died(dir) });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ox deploy-remote status`: the job's state, waiting up to `wait` for
/// it to end.
pub fn status(id: &str, wait: Duration) -> Result<State, Error> {
    wait_final(&job_dir(id)?, wait)
}

/// The log of a job (for failure reports).
pub fn log(id: &str) -> Result<String, Error> {
    let p = job_dir(id)?.join("log");
    Ok(String::from_utf8_lossy(&fs::read(&p).map_err(io(&p))?).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_knows_final_states() {
        let s = State {
            deadline_ms: Some(5),
            ..State::new("awaiting-confirm")
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(j, r#"{"state":"awaiting-confirm","deadlineMs":5}"#);
        assert_eq!(serde_json::from_str::<State>(&j).unwrap(), s);
        assert!(!s.is_final());
        assert!(State::new("rolled-back").is_final());
        assert!(job_dir("../etc").is_err());
    }

    #[test]
    fn health_checks_report_what_failed() {
        assert!(run_check("true", Duration::from_secs(5)).is_ok());
        let e = run_check("echo not ready >&2; exit 3", Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            e,
            "health check `echo not ready >&2; exit 3` failed (exit 3): not ready"
        );
        let e = run_check("sleep 5", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
    }

    #[test]
    fn a_dead_job_is_noticed() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("123-4-5");
        fs::create_dir_all(&d).unwrap();
        write_state(&d, &State::new("awaiting-confirm")).unwrap();
        assert_eq!(job_alive(&d), None);
        // a pid that is not this job's `apply` (our own test process)
        fs::write(d.join("job.pid"), std::process::id().to_string()).unwrap();
        assert_eq!(job_alive(&d), Some(false));
        let st = wait_final(&d, Duration::from_secs(30)).unwrap();
        assert_eq!(st.state, "failed");
        assert!(st
            .reason
            .unwrap()
            .contains("journalctl -u ox-deploy-123-4-5"));
        let st = follow(&d, &mut Vec::new(), |s| s.state != "awaiting-confirm").unwrap();
        assert_eq!(st.state, "failed");
    }

    #[test]
    fn prune_keeps_running_and_newest_jobs() {
        let t = tempfile::tempdir().unwrap();
        for (i, st) in ["done", "rolled-back", "awaiting-confirm", "failed"]
            .iter()
            .enumerate()
        {
            let d = t.path().join(format!("job{i}"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("job.json"), b"{}").unwrap();
            write_state(&d, &State::new(st)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        prune(t.path(), 1);
        let left: Vec<String> = {
            let mut v: Vec<String> = fs::read_dir(t.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(left, vec!["job2", "job3"]);
    }
}
