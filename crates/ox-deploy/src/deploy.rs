//! One host's deploy, from a built toplevel to a confirmed (or rolled
//! back) activation: connect, make sure the remote has this `ox`, copy
//! the missing part of the closure, start the remote job, confirm over
//! a fresh connection. Every step reports progress through a callback;
//! the result is a [`HostReport`] whatever happened.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ox_localstore::Store;
use ox_store::StorePath;
use serde::Serialize;

use crate::archive::{self, ImportReport};
use crate::remote::{State, STATE_PREFIX};
use crate::ssh::{Ssh, Target};
use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Switch,
    Boot,
    Test,
    DryActivate,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Switch => "switch",
            Action::Boot => "boot",
            Action::Test => "test",
            Action::DryActivate => "dry-activate",
        }
    }
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "switch" => Action::Switch,
            "boot" => Action::Boot,
            "test" => Action::Test,
            "dry-activate" => Action::DryActivate,
            _ => return None,
        })
    }
    /// Whether it changes the running system (and so is confirmed).
    pub fn is_live(self) -> bool {
        matches!(self, Action::Switch | Action::Test)
    }
}

pub struct Options {
    pub action: Action,
    pub confirm_timeout: Duration,
    /// Connect and find out what would be copied; change nothing.
    pub dry_run: bool,
    /// Private directory for the control sockets.
    pub control_dir: PathBuf,
    /// This ox binary (copied to remotes that lack it).
    pub ox_binary: PathBuf,
    /// Where it lives on a remote (see [`remote_ox_path`]).
    pub remote_ox: String,
}

/// Where a host is in its deploy (for the live line).
#[derive(Clone, Debug)]
pub enum Phase {
    Connect,
    CopyOx { bytes: u64 },
    Query,
    Copy { paths: usize, total: u64, sent: u64 },
    Activate { last: String },
    Confirm { left: Duration },
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Activated (and confirmed, for switch/test), or boot/dry-activate done.
    Done,
    /// `--dry-run`: nothing changed.
    DryRun,
    /// Stopped before changing the running system (unreachable, copy
    /// failed, activation refused).
    Failed,
    /// The host went back to the previous generation by itself.
    RolledBack,
    /// The activation failed and the rollback did too; look at the host.
    RollbackFailed,
    /// Not started: the fleet's failure limit was reached first.
    Skipped,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    pub host: String,
    pub target: String,
    pub action: Action,
    pub status: Status,
    pub reason: Option<String>,
    pub toplevel: String,
    pub closure_paths: usize,
    pub copied_paths: usize,
    pub copied_bytes: u64,
    pub ox_copied: bool,
    /// The generation active before (what a rollback returns to).
    pub previous: Option<String>,
    /// Whether the remote activation was started (so the running
    /// system may have changed).
    pub activation_started: bool,
    pub seconds: Timings,
    /// Output of the remote activations (dry-activate's plan).
    pub log: String,
}

impl HostReport {
    /// A report that nothing has happened on yet: failed until the steps
    /// say otherwise.
    pub fn failed(host: String, target: String, action: Action, toplevel: String) -> HostReport {
        HostReport {
            host,
            target,
            action,
            status: Status::Failed,
            reason: None,
            toplevel,
            closure_paths: 0,
            copied_paths: 0,
            copied_bytes: 0,
            ox_copied: false,
            previous: None,
            activation_started: false,
            seconds: Timings::default(),
            log: String::new(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Filled in by the caller (building is not this crate's).
    pub build: f64,
    pub connect: f64,
    pub copy: f64,
    pub activate: f64,
    pub confirm: f64,
}

/// The remote path of an ox binary: by version, size and mtime, so a
/// rebuilt binary is copied again and an unchanged one never is.
pub fn remote_ox_path(binary: &Path) -> Result<String, Error> {
    let m = std::fs::metadata(binary)
        .map_err(|e| Error::Local(format!("{}: {e}", binary.display())))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let fp = ox_store::Hash::digest(
        ox_store::HashAlgo::Sha256,
        format!("{}:{}:{mtime}", env!("CARGO_PKG_VERSION"), m.len()).as_bytes(),
    )
    .to_base32();
    Ok(format!(
        "/ox/var/deploy/bin/ox-{}-{}",
        env!("CARGO_PKG_VERSION"),
        &fp[..16]
    ))
}

static JOBS: AtomicUsize = AtomicUsize::new(0);

fn job_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{secs}-{}-{}",
        std::process::id(),
        JOBS.fetch_add(1, Ordering::SeqCst)
    )
}

/// Fleet-wide coordination points of one host's deploy. Every host
/// passes [`Gate::activate`] at most once and then [`Gate::confirm`] at
/// most once; [`deploy_host`] reports a host that stops early to the
/// gate itself, so a barrier never waits for a host that is gone.
pub trait Gate: Sync {
    /// Everything is copied; may this host activate? `false`: stop,
    /// nothing changed.
    fn activate(&self) -> bool;
    /// The activation ended (`ok`: it waits for the confirmation); may
    /// it be confirmed? `false`: the host rolls back now.
    fn confirm(&self, ok: bool) -> bool;
    /// The host stopped before [`Gate::activate`] (failed or dry run).
    fn gone(&self, ok: bool);
}

/// Every host on its own (the default).
pub struct NoGate;

impl Gate for NoGate {
    fn activate(&self) -> bool {
        true
    }
    fn confirm(&self, _: bool) -> bool {
        true
    }
    fn gone(&self, _: bool) {}
}

#[derive(Default)]
struct GateUse {
    activated: bool,
    confirmed: bool,
}

/// Deploys `toplevel` to `target`. Never panics on remote trouble: the
/// report says what happened.
pub fn deploy_host(
    store: &Store,
    target: &Target,
    toplevel: &StorePath,
    health_checks: &[String],
    opts: &Options,
    gate: &dyn Gate,
    progress: &(dyn Fn(Phase) + Sync),
) -> HostReport {
    let mut r = HostReport::failed(
        target.name.clone(),
        target.display(),
        opts.action,
        store.print(toplevel),
    );
    let mut used = GateUse::default();
    if let Err(e) = run(
        store,
        target,
        toplevel,
        health_checks,
        opts,
        gate,
        &mut used,
        progress,
        &mut r,
    ) {
        r.status = Status::Failed;
        r.reason = Some(e.to_string());
    }
    let ok = matches!(r.status, Status::Done | Status::DryRun);
    if !used.activated {
        gate.gone(ok);
    } else if !used.confirmed {
        gate.confirm(ok);
    }
    progress(Phase::Finished);
    r
}

fn stdout_state(out: &[u8]) -> Option<State> {
    String::from_utf8_lossy(out)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(STATE_PREFIX))
        .and_then(|j| serde_json::from_str(j).ok())
}

/// Waits for an ssh child; exit 255 is ssh's own failure (connection,
/// authentication), named for the host.
fn wait_remote(ssh: &Ssh, child: std::process::Child) -> Result<std::process::Output, Error> {
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Local(format!("ssh: {e}")))?;
    if out.status.code() == Some(255) {
        return Err(crate::ssh::classify(
            &ssh.target,
            &String::from_utf8_lossy(&out.stderr),
        ));
    }
    Ok(out)
}

fn remote_err(what: &str, out: &std::process::Output) -> Error {
    Error::Transport(format!(
        "{what} failed on the host (exit {}): {}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

// the steps share everything; a struct for it would only rename them
#[allow(clippy::too_many_arguments)]
fn run(
    store: &Store,
    target: &Target,
    toplevel: &StorePath,
    health_checks: &[String],
    opts: &Options,
    gate: &dyn Gate,
    used: &mut GateUse,
    progress: &(dyn Fn(Phase) + Sync),
    r: &mut HostReport,
) -> Result<(), Error> {
    let t0 = Instant::now();
    progress(Phase::Connect);
    let ssh = Ssh::connect(target, &opts.control_dir)?;
    let ox = opts.remote_ox.as_str();
    let probe = ssh.run(
        &[
            "sh",
            "-c",
            "if test -x \"$1\"; then echo present; else echo absent; fi; uname -m; \
             readlink /run/ox/current-system || true",
            "sh",
            ox,
        ],
        None,
        false,
    )?;
    if !probe.status.success() {
        return Err(remote_err("probing the host", &probe));
    }
    let text = String::from_utf8_lossy(&probe.stdout).into_owned();
    let mut lines = text.lines();
    let have_ox = lines.next() == Some("present");
    let arch = lines.next().unwrap_or("").trim().to_string();
    r.previous = lines.next().map(str::to_string).filter(|s| !s.is_empty());
    if arch != std::env::consts::ARCH {
        return Err(Error::Local(format!(
            "{} ({}) is a `{arch}` machine; expected {} like this ox binary",
            target.name,
            target.display(),
            std::env::consts::ARCH
        )));
    }
    r.seconds.connect = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    if !have_ox && !opts.dry_run {
        upload_ox(&ssh, opts, progress)?;
        r.ox_copied = true;
    }

    // which paths the host lacks
    progress(Phase::Query);
    let closure = archive::closure_in_order(store, std::slice::from_ref(toplevel))?;
    r.closure_paths = closure.len();
    let list: String = closure
        .iter()
        .map(|i| format!("{}\n", store.print(&i.path)))
        .collect();
    let missing: std::collections::BTreeSet<String> = if have_ox || !opts.dry_run {
        let out = ssh.run(
            &[ox, "deploy-remote", "missing"],
            Some(list.as_bytes()),
            false,
        )?;
        if !out.status.success() {
            return Err(remote_err("asking for missing paths", &out));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    } else {
        // a dry run does not install ox: ask the shell instead
        let out = ssh.run(
            &[
                "sh",
                "-c",
                "while read -r p; do test -e \"$p\" || echo \"$p\"; done",
            ],
            Some(list.as_bytes()),
            false,
        )?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let send: Vec<_> = closure
        .into_iter()
        .filter(|i| missing.contains(&store.print(&i.path)))
        .collect();
    let total: u64 = send.iter().map(|i| i.nar_size).sum();
    r.copied_paths = send.len();
    r.copied_bytes = total;
    if opts.dry_run {
        r.seconds.copy = t1.elapsed().as_secs_f64();
        r.status = Status::DryRun;
        r.reason = Some(format!(
            "would copy {} paths ({:.1} MiB){}",
            send.len(),
            total as f64 / 1048576.0,
            if have_ox { "" } else { " and the ox binary" }
        ));
        return Ok(());
    }
    if !send.is_empty() {
        let rep = copy(&ssh, store, &send, total, ox, progress)?;
        if rep.imported + rep.already_valid != send.len() {
            return Err(Error::Protocol(format!(
                "the host imported {} of {} paths",
                rep.imported + rep.already_valid,
                send.len()
            )));
        }
    }
    r.seconds.copy = t1.elapsed().as_secs_f64();

    // activation
    used.activated = true;
    if !gate.activate() {
        r.status = Status::Skipped;
        r.reason = Some(
            "not activated: another host of the fleet failed first (--all-or-nothing); nothing changed here"
                .into(),
        );
        return Ok(());
    }
    r.activation_started = true;
    let t2 = Instant::now();
    let id = job_id();
    let top = store.print(toplevel);
    progress(Phase::Activate {
        last: String::new(),
    });
    let timeout = opts.confirm_timeout.as_secs().max(1).to_string();
    let mut child = ssh.spawn(
        &[
            ox,
            "deploy-remote",
            "activate",
            "--id",
            &id,
            "--toplevel",
            &top,
            "--action",
            opts.action.as_str(),
            "--confirm-timeout",
            &timeout,
        ],
        false,
    )?;
    drop(child.stdin.take());
    let mut err_text = String::new();
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let mut state: Option<State> = None;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(j) = line.strip_prefix(STATE_PREFIX) {
                state = serde_json::from_str(j).ok();
                continue;
            }
            r.log.push_str(&line);
            r.log.push('\n');
            if !line.trim().is_empty() {
                progress(Phase::Activate {
                    last: line.trim().to_string(),
                });
            }
        }
    }
    let st = child
        .wait()
        .map_err(|e| Error::Local(format!("ssh: {e}")))?;
    err_text.push_str(&err_thread.join().unwrap_or_default());
    r.seconds.activate = t2.elapsed().as_secs_f64();
    let lost = match &state {
        Some(_) => None,
        None if st.code() == Some(255) => Some(crate::ssh::classify(target, &err_text)),
        None => {
            return Err(Error::Transport(format!(
                "starting the activation failed on the host (exit {}): {}",
                st.code().unwrap_or(-1),
                err_text.trim()
            )))
        }
    };
    if !opts.action.is_live() {
        return finish(r, state.unwrap_or_else(|| lost_state(&lost)));
    }
    let mut state = match state {
        Some(s) if s.state != "awaiting-confirm" => return finish(r, s),
        s => s,
    };
    used.confirmed = true;
    if !gate.confirm(true) {
        // another host failed: take this one back now, not at the timeout
        let why = "another host of the fleet failed (--all-or-nothing)";
        let abort = [
            ox,
            "deploy-remote",
            "abort",
            "--id",
            id.as_str(),
            "--reason",
            why,
        ];
        let status = [
            ox,
            "deploy-remote",
            "status",
            "--id",
            id.as_str(),
            "--wait",
            "180",
        ];
        for argv in [&abort[..], &status[..]] {
            let out = ssh.run(argv, None, !ssh.master_alive())?;
            if !out.status.success() {
                return Err(remote_err("rolling back", &out));
            }
            if let Some(s) = stdout_state(&out.stdout).filter(|s| s.is_final()) {
                if let Ok(o) = ssh.run(
                    &[ox, "deploy-remote", "log", "--id", id.as_str()],
                    None,
                    !ssh.master_alive(),
                ) {
                    r.log = String::from_utf8_lossy(&o.stdout).into_owned();
                }
                return finish(r, s);
            }
        }
        return Err(Error::Transport(
            "asked the host to roll back, but it did not say it did".into(),
        ));
    }

    // confirmation over a fresh connection
    let t3 = Instant::now();
    let deadline = Instant::now() + opts.confirm_timeout + Duration::from_secs(2);
    let mut last_err: Option<String> = lost.as_ref().map(|e| e.to_string());
    let mut confirm_argv = vec![ox, "deploy-remote", "confirm", "--id", id.as_str()];
    for c in health_checks {
        confirm_argv.extend(["--check", c.as_str()]);
    }
    while Instant::now() < deadline {
        progress(Phase::Confirm {
            left: deadline.saturating_duration_since(Instant::now()),
        });
        match ssh.run(&confirm_argv, None, true) {
            Ok(out) if out.status.success() => match stdout_state(&out.stdout) {
                Some(s) if s.state == "activating" => {
                    std::thread::sleep(Duration::from_millis(300));
                }
                Some(s) if s.state == "check-failed" => {
                    // services may still be coming up: try until the deadline
                    last_err = s.reason;
                    std::thread::sleep(Duration::from_millis(1000));
                }
                Some(s) => {
                    if s.state != "done" && s.state != "confirmed" && last_err.is_none() {
                        last_err = Some(format!(
                            "the confirmation got through only after the host had decided ({} s after the activation)",
                            t3.elapsed().as_secs()
                        ));
                    }
                    state = Some(s);
                    break;
                }
                None => last_err = Some("the confirmation got no answer".into()),
            },
            Ok(out) => {
                last_err = Some(remote_err("confirming", &out).to_string());
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => {
                last_err = Some(e.to_string());
                std::thread::sleep(Duration::from_millis(1000));
            }
        }
    }
    let mut final_state = state.filter(|s| s.is_final());
    if final_state.is_none() {
        // no confirmation got through: the host decides by itself; ask
        // it what it did, over the old connection if it is still up
        // (a config that moves sshd keeps existing sessions) or anew
        let wait = "180";
        let status_argv = [
            ox,
            "deploy-remote",
            "status",
            "--id",
            id.as_str(),
            "--wait",
            wait,
        ];
        let until = Instant::now() + Duration::from_secs(60);
        while final_state.is_none() && Instant::now() < until {
            let fresh = !ssh.master_alive();
            match ssh.run(&status_argv, None, fresh) {
                Ok(out) if out.status.success() => {
                    final_state = stdout_state(&out.stdout).filter(|s| s.is_final());
                }
                _ => std::thread::sleep(Duration::from_secs(2)),
            }
        }
    }
    r.seconds.confirm = t3.elapsed().as_secs_f64();
    // the log of what ran (rollback included), over whatever works
    if let Ok(out) = ssh.run(
        &[ox, "deploy-remote", "log", "--id", id.as_str()],
        None,
        !ssh.master_alive(),
    ) {
        if out.status.success() {
            r.log = String::from_utf8_lossy(&out.stdout).into_owned();
        }
    }
    if final_state.is_some() && last_err.is_none() {
        last_err = Some("no new SSH connection got through".into());
    }
    match final_state {
        Some(mut s) => {
            if s.state == "rolled-back" || s.state == "rollback-failed" {
                if let Some(e) = &last_err {
                    let why = s.reason.take().unwrap_or_default();
                    s.reason = Some(format!("{why}; last confirmation attempt: {e}"));
                }
            }
            finish(r, s)
        }
        None => Err(Error::Unreachable(format!(
            "{} ({}): lost after the activation and could not be asked since: {}. \
             If no confirmation reached it, it rolled back by itself after {} s",
            target.name,
            target.display(),
            last_err.unwrap_or_default(),
            opts.confirm_timeout.as_secs()
        ))),
    }
}

/// Takes a host that was switched (and confirmed) back to `previous`,
/// the generation it ran before: live first, then the boot default (the
/// same order as a switch). For `--all-or-nothing` across waves, when a
/// later wave failed. Returns the activations' output.
pub fn revert(target: &Target, previous: &str, opts: &Options) -> Result<String, Error> {
    let mut ssh = Ssh::connect(target, &opts.control_dir)?;
    let ox = opts.remote_ox.as_str();
    let mut log = String::new();
    let steps: &[&str] = if opts.action == Action::Switch {
        &["test", "boot"]
    } else {
        &["test"]
    };
    for step in steps {
        let out = ssh.run(
            &[ox, "activate", previous, step, "--no-detach"],
            None,
            false,
        )?;
        log.push_str(&String::from_utf8_lossy(&out.stdout));
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            ssh.close();
            return Err(remote_err(
                &format!("going back to {previous} ({step})"),
                &out,
            ));
        }
    }
    ssh.close();
    Ok(log)
}

fn lost_state(lost: &Option<Error>) -> State {
    State {
        state: "failed".into(),
        reason: Some(format!(
            "the connection was lost during the activation: {}",
            lost.as_ref().map(|e| e.to_string()).unwrap_or_default()
        )),
        deadline_ms: None,
        previous: None,
    }
}

fn finish(r: &mut HostReport, s: State) -> Result<(), Error> {
    r.status = match s.state.as_str() {
        "done" => Status::Done,
        "rolled-back" => Status::RolledBack,
        "rollback-failed" => Status::RollbackFailed,
        _ => Status::Failed,
    };
    r.reason = s.reason;
    Ok(())
}

fn upload_ox(ssh: &Ssh, opts: &Options, progress: &(dyn Fn(Phase) + Sync)) -> Result<(), Error> {
    upload_binary(ssh, &opts.ox_binary, &opts.remote_ox, progress)
}

/// Installs the local file `binary` on the host at `remote` (mode
/// 0755), atomically (`cat > tmp; chmod; mv`). Also used by `ox install
/// --target`.
pub fn upload_binary(
    ssh: &Ssh,
    binary: &Path,
    remote: &str,
    progress: &(dyn Fn(Phase) + Sync),
) -> Result<(), Error> {
    let mut f = std::fs::File::open(binary)
        .map_err(|e| Error::Local(format!("{}: {e}", binary.display())))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    progress(Phase::CopyOx { bytes: size });
    let mut child = ssh.spawn(
        &[
            "sh",
            "-c",
            // install atomically, then keep only the three newest
            // binaries (a job still running may use an older one)
            "set -e; d=\"$(dirname \"$1\")\"; mkdir -p \"$d\"; t=\"$1.tmp.$$\"; \
             cat > \"$t\"; chmod 0755 \"$t\"; mv -f \"$t\" \"$1\"; \
             ls -t \"$d\" | grep -v '\\.tmp\\.' | tail -n +4 | while read -r f; do rm -f \"$d/$f\"; done",
            "sh",
            remote,
        ],
        false,
    )?;
    let mut stdin = child.stdin.take().expect("piped");
    let copied = std::io::copy(&mut f, &mut stdin);
    drop(stdin);
    let out = wait_remote(ssh, child)?;
    if !out.status.success() || copied.is_err() {
        return Err(remote_err("installing the ox binary", &out));
    }
    Ok(())
}

fn copy(
    ssh: &Ssh,
    store: &Store,
    send: &[ox_localstore::PathInfo],
    total: u64,
    ox: &str,
    progress: &(dyn Fn(Phase) + Sync),
) -> Result<ImportReport, Error> {
    copy_paths(
        ssh,
        store,
        send,
        total,
        &[ox, "deploy-remote", "import"],
        progress,
    )
}

/// Streams `send` (in dependency order, `total` NAR bytes) to the remote
/// command `import` (an `ox deploy-remote import`, possibly with a
/// store root of its own: `ox install --target` imports into the new
/// root's store) and returns its report.
pub fn copy_paths(
    ssh: &Ssh,
    store: &Store,
    send: &[ox_localstore::PathInfo],
    total: u64,
    import: &[&str],
    progress: &(dyn Fn(Phase) + Sync),
) -> Result<ImportReport, Error> {
    let mut child = ssh.spawn(import, false)?;
    let stdin = child.stdin.take().expect("piped");
    let sent = AtomicU64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let write_result = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, stdin);
            let r = archive::write_archive(store, send, &mut w, &sent);
            drop(w);
            done.store(true, Ordering::SeqCst);
            r
        });
        while !done.load(Ordering::SeqCst) {
            progress(Phase::Copy {
                paths: send.len(),
                total,
                sent: sent.load(Ordering::Relaxed),
            });
            std::thread::sleep(Duration::from_millis(200));
        }
        writer
            .join()
            .unwrap_or_else(|_| Err(Error::Local("the archive writer panicked".into())))
    });
    progress(Phase::Copy {
        paths: send.len(),
        total,
        sent: sent.load(Ordering::Relaxed),
    });
    let out = wait_remote(ssh, child)?;
    if !out.status.success() {
        // the remote's reason beats our broken pipe
        return Err(remote_err("importing the closure", &out));
    }
    write_result?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::Protocol(format!(
            "bad import report `{}`: {e}",
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    })
}

/// Writes the final state line the deployer looks for.
pub fn print_state(out: &mut dyn Write, s: &State) {
    let _ = writeln!(
        out,
        "{STATE_PREFIX}{}",
        serde_json::to_string(s).unwrap_or_default()
    );
    let _ = out.flush();
}
