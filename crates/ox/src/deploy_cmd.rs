//! `ox deploy`: build the selected hosts of a flake and deploy each over
//! SSH in parallel (crate `ox-deploy` does the per-host work), with one
//! live line per host, a summary table or `--json`, and an exit status
//! that is non-zero when any host did not end up on its new
//! generation. Also the hidden `ox deploy-remote`, the remote half of
//! the protocol (docs/deploy.md).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ox_deploy::{Action, Gate, HostReport, Phase, Status, Target};

use crate::host_cmd::HostEval;

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Hosts to deploy (names in the flake's `oxConfigurations`),
    /// optionally followed by the goal: `switch` (default), `boot`,
    /// `test` or `dry-activate`.
    #[arg(value_name = "HOST… [GOAL]")]
    pub targets: Vec<String>,
    /// The flake with the fleet (a directory).
    #[arg(long, default_value = ".")]
    pub flake: String,
    /// Select hosts: names, `@tag` (deployment.tags), globs with `*`;
    /// comma-separated or repeated.
    #[arg(long, value_delimiter = ',')]
    pub on: Vec<String>,
    /// Deploy every host of the flake.
    #[arg(long)]
    pub all: bool,
    /// How many hosts to build and deploy at once (default 10).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Build, connect and report what would be copied; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Start no further hosts once this many have failed (with `-j 1`
    /// and 1: a canary rollout that stops at the first failure).
    #[arg(long, value_name = "N")]
    pub max_failures: Option<usize>,
    /// All hosts or none: each host activates only once every host is
    /// copied, and is confirmed only once every host activated; if any
    /// fails, the others roll back (or never activate). Runs every
    /// selected host at once (ignores -j).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Activate the hosts in waves of N (or N% of the selected hosts):
    /// building and copying run ahead, but a wave activates only once
    /// the previous one is confirmed; a failed wave stops the later
    /// ones (see --max-failures).
    #[arg(long, value_name = "N|N%")]
    pub batch: Option<String>,
    /// Hosts that go first, alone (names, comma-separated, or a number:
    /// the first N selected hosts); the rest only after they are
    /// confirmed and healthy.
    #[arg(long, value_name = "HOST,…|N")]
    pub canary: Option<String>,
    /// First show every host's changes (paths to copy, diff against the
    /// running generation), then ask once for the whole fleet.
    #[arg(long, conflicts_with = "dry_run")]
    pub ask: bool,
    /// Ask once (on the terminal, not echoed) for the password of the
    /// non-root `deployment.targetUser`s' sudo; it is checked on every
    /// selected host before anything is built, and sent to the host only
    /// on the SSH channel's stdin.
    #[arg(long, conflicts_with = "elevate_password_file")]
    pub ask_elevate_password: bool,
    /// Read that password from the first line of FILE instead (for
    /// automation; keep the file private).
    #[arg(long, value_name = "FILE")]
    pub elevate_password_file: Option<PathBuf>,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seconds a host waits for the deployer to log in again after
    /// switching before it rolls back by itself.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub confirm_timeout: u64,
    /// Extra ssh option (`Key=Value`, as `ssh -o`), for every host.
    #[arg(long = "ssh-option", value_name = "KEY=VALUE")]
    pub ssh_option: Vec<String>,
    /// Add a search path entry (`ox=DIR` picks the ox Nix tree).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Physical root of the local store (like `ox build --store-root`).
    #[arg(long = "store-root", value_name = "DIR")]
    pub store_root: Option<PathBuf>,
}

/// The remote half; run by `ox deploy` over SSH, not by people.
#[derive(Args, Debug)]
pub struct RemoteArgs {
    #[command(subcommand)]
    cmd: RemoteCmd,
}

#[derive(Subcommand, Debug)]
enum RemoteCmd {
    /// Print the store paths read from stdin that this store lacks.
    Missing,
    /// Import an archive from stdin (hash-checked, all or nothing).
    Import,
    /// Start the activation job and follow it until it waits for the
    /// confirmation or ends.
    Activate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        toplevel: String,
        #[arg(long)]
        action: String,
        #[arg(long)]
        confirm_timeout: u64,
    },
    /// The job itself (runs as a transient unit).
    Apply {
        #[arg(long)]
        id: String,
    },
    /// Confirm that a fresh login works; print the job's decision.
    Confirm {
        #[arg(long)]
        id: String,
        /// A health check (shell command) that must succeed first.
        #[arg(long = "check")]
        checks: Vec<String>,
    },
    /// Print the job's state, waiting up to SECS for it to end.
    Status {
        #[arg(long)]
        id: String,
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Roll an unconfirmed activation back now.
    Abort {
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Print the job's log.
    Log {
        #[arg(long)]
        id: String,
    },
}

pub fn remote(a: RemoteArgs) -> Result<ExitCode, String> {
    let e = |e: ox_deploy::Error| format!("error: {e}\n");
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let mut stdout = std::io::stdout();
    match a.cmd {
        RemoteCmd::Missing => {
            let store = crate::build_cmd::open_store(None)?;
            let mut wanted = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut wanted)
                .map_err(|e| format!("error: reading stdin: {e}\n"))?;
            for p in ox_deploy::archive::missing(&store, &wanted).map_err(e)? {
                println!("{p}");
            }
        }
        RemoteCmd::Import => {
            let store = crate::build_cmd::open_store(None)?;
            let rep =
                ox_deploy::archive::import(&store, &mut std::io::stdin().lock()).map_err(e)?;
            println!("{}", serde_json::to_string(&rep).unwrap_or_default());
        }
        RemoteCmd::Activate {
            id,
            toplevel,
            action,
            confirm_timeout,
        } => {
            let st = ox_deploy::remote::start_and_follow(
                &exe,
                &id,
                &toplevel,
                &action,
                confirm_timeout,
                &mut stdout,
            )
            .map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Apply { id } => {
            let st = ox_deploy::remote::apply(&exe, &id).map_err(e)?;
            eprintln!("ox deploy job {id}: {}", st.state);
        }
        RemoteCmd::Confirm { id, checks } => {
            let st = ox_deploy::remote::confirm(&id, &checks).map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Status { id, wait } => {
            let st = ox_deploy::remote::status(&id, Duration::from_secs(wait)).map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Abort { id, reason } => {
            let st = ox_deploy::remote::abort(&id, &reason).map_err(e)?;
            ox_deploy::deploy::print_state(&mut stdout, &st);
        }
        RemoteCmd::Log { id } => {
            print!("{}", ox_deploy::remote::log(&id).map_err(e)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A glob with `*` only (host names and tags need no more).
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let tail = &s[pre.len()..];
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

struct HostInfo {
    name: String,
    target: Option<Target>,
    tags: Vec<String>,
    checks: Vec<String>,
}

fn host_info(
    he: &mut HostEval,
    name: &str,
    extra_ssh: &[String],
    password: Option<&ox_deploy::Password>,
) -> Result<HostInfo, String> {
    let v = he.apply_json(
        name,
        "h: if h.config ? deployment then { inherit (h.config.deployment) targetHost targetUser targetPort tags sshOptions healthChecks; elevate = h.config.deployment.elevate or \"sudo\"; } else null",
    )?;
    if v.is_null() {
        return Err(format!(
            "error: host `{name}` has no `deployment` options; expected a host evaluated with ox's modules (ox.lib.oxSystem)\n"
        ));
    }
    let strs = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let elevate = v["elevate"].as_str().unwrap_or("sudo");
    let tool = ox_deploy::ElevateTool::parse(elevate).ok_or_else(|| {
        format!(
            "error: host `{name}`: deployment.elevate = {elevate:?}; expected \"sudo\", \"doas\" or \"run0\"\n"
        )
    })?;
    let target = v["targetHost"].as_str().map(|h| {
        let mut opts = strs("sshOptions");
        opts.extend(extra_ssh.iter().cloned());
        Target {
            name: name.to_string(),
            host: h.to_string(),
            user: v["targetUser"].as_str().unwrap_or("root").to_string(),
            port: v["targetPort"].as_u64().and_then(|p| u16::try_from(p).ok()),
            ssh_options: opts,
            elevate: ox_deploy::Elevate {
                tool,
                password: password.cloned(),
            },
        }
    });
    Ok(HostInfo {
        name: name.to_string(),
        target,
        tags: strs("tags"),
        checks: strs("healthChecks"),
    })
}

/// Which hosts the arguments select, in the flake's order.
fn select(
    he: &mut HostEval,
    names: &[String],
    hosts: &[String],
    on: &[String],
    all: bool,
    flake: &str,
) -> Result<Vec<String>, String> {
    let known = |n: &str| names.iter().any(|x| x == n);
    let unknown = |n: &str| {
        format!(
            "error: unknown host `{n}`: the flake {flake} defines no oxConfigurations.{n} (hosts: {})\n",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )
    };
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    if all {
        chosen.extend(names.iter().cloned());
    }
    for h in hosts {
        if !known(h) {
            return Err(unknown(h));
        }
        chosen.insert(h.clone());
    }
    let mut tags_of: Option<Vec<(String, Vec<String>)>> = None;
    for sel in on.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if let Some(tag) = sel.strip_prefix('@') {
            if tags_of.is_none() {
                let mut v = Vec::new();
                for n in names {
                    let i = host_info(he, n, &[], None)?;
                    v.push((i.name, i.tags));
                }
                tags_of = Some(v);
            }
            let hit: Vec<&String> = tags_of
                .iter()
                .flatten()
                .filter(|(_, tags)| tags.iter().any(|t| glob(tag, t)))
                .map(|(n, _)| n)
                .collect();
            if hit.is_empty() {
                return Err(format!(
                    "error: --on @{tag}: no host of the flake {flake} has a matching deployment.tags entry\n"
                ));
            }
            chosen.extend(hit.into_iter().cloned());
        } else if sel.contains('*') {
            let hit: Vec<&String> = names.iter().filter(|n| glob(sel, n)).collect();
            if hit.is_empty() {
                return Err(format!(
                    "error: --on {sel}: matches no host (hosts: {})\n",
                    names.join(", ")
                ));
            }
            chosen.extend(hit.into_iter().cloned());
        } else {
            if !known(sel) {
                return Err(unknown(sel));
            }
            chosen.insert(sel.to_string());
        }
    }
    if chosen.is_empty() {
        return Err(
            "error: no hosts selected: name them (`ox deploy web1 web2`), use `--on @tag` or `--all`\n"
                .into(),
        );
    }
    Ok(names
        .iter()
        .filter(|n| chosen.contains(*n))
        .cloned()
        .collect())
}

/// One live line per host: spinner bars on a terminal, a line per phase
/// change otherwise.
struct Ui {
    names: Vec<String>,
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    last: Mutex<Vec<String>>,
    width: usize,
}

impl Ui {
    fn new(names: &[String]) -> Ui {
        let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
        let bars = std::io::stderr().is_terminal().then(|| {
            let m = MultiProgress::new();
            let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bars = names
                .iter()
                .map(|n| {
                    let b = m.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(format!("{n:<width$}"));
                    b.set_message("waiting");
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                })
                .collect();
            (m, bars)
        });
        Ui {
            names: names.to_vec(),
            bars,
            last: Mutex::new(vec![String::new(); names.len()]),
            width,
        }
    }

    /// `key` is the phase; without a terminal a line is printed only
    /// when it changes, so logs stay short.
    fn set(&self, i: usize, key: &str, msg: String) {
        match &self.bars {
            Some((_, bars)) => bars[i].set_message(msg),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                let key = if key == "activate" { msg.as_str() } else { key };
                if last[i] != key {
                    last[i] = key.to_string();
                    let w = self.width;
                    eprintln!("{:<w$}  {msg}", self.names[i]);
                }
            }
        }
    }

    fn finish(&self, i: usize, msg: String) {
        match &self.bars {
            Some((_, bars)) => bars[i].finish_with_message(msg),
            None => {
                let w = self.width;
                eprintln!("{:<w$}  {msg}", self.names[i]);
            }
        }
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1048576.0)
}

fn phase_text(p: &Phase) -> (&'static str, String) {
    match p {
        Phase::Connect => ("connect", "connect".into()),
        Phase::CopyOx { bytes } => ("copy-ox", format!("copy the ox binary ({})", mib(*bytes))),
        Phase::Query => ("query", "ask which paths the host lacks".into()),
        Phase::Copy { paths, total, sent } => (
            "copy",
            format!("copy {paths} paths, {} of {}", mib(*sent), mib(*total)),
        ),
        // every activation line is a step of its own in a log
        Phase::Activate { last } => (
            "activate",
            if last.is_empty() {
                "activate".into()
            } else {
                format!("activate: {last}")
            },
        ),
        Phase::Confirm { left } => (
            "confirm",
            format!(
                "confirm over a new connection, health checks ({} s left)",
                left.as_secs()
            ),
        ),
        Phase::Finished => ("finished", "finished".into()),
    }
}

/// Builds one host with `ox build --flake` in a child process (the
/// evaluator is single-threaded; children build in parallel).
fn build_host(a: &DeployArgs, flake: &str, host: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut c = std::process::Command::new(exe);
    c.arg("build")
        .arg("--flake")
        .arg(format!("{flake}#{host}"))
        .arg("--no-out-link");
    if let Some(r) = &a.store_root {
        c.arg("--store-root").arg(r);
    }
    for i in &a.include {
        c.arg("-I").arg(i);
    }
    let out = c
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("building host"))
            .collect();
        return Err(format!("build failed: {}", lines.join("\n")));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "build printed no toplevel".to_string())
}

fn failed_report(t: &Option<Target>, name: &str, action: Action, reason: String) -> HostReport {
    let mut r = HostReport::failed(
        name.to_string(),
        t.as_ref().map(|t| t.display()).unwrap_or_default(),
        action,
        String::new(),
    );
    r.reason = Some(reason);
    r
}

pub fn run(mut a: DeployArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    // a trailing goal word
    let mut action = Action::Switch;
    if let Some(last) = a.targets.last() {
        if let Some(act) = Action::parse(last) {
            action = act;
            a.targets.pop();
        }
    }
    let flake_dir = std::env::current_dir()
        .map_err(|e| format!("error: {e}\n"))?
        .join(&a.flake);
    let flake = flake_dir.to_string_lossy().into_owned();
    let (mut he, _) = HostEval::open_flake(&flake, &a.include)?;
    let names = he.host_names()?;
    let selected = select(&mut he, &names, &a.targets, &a.on, a.all, &a.flake)?;
    let password = elevate_password(&a)?;
    let mut infos = Vec::new();
    for n in &selected {
        infos.push(host_info(&mut he, n, &a.ssh_option, password.as_ref())?);
    }
    drop(he);

    let store = crate::build_cmd::open_store(a.store_root.as_ref())?;
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let control = tempfile_dir()?;
    let opts = ox_deploy::Options {
        action,
        confirm_timeout: Duration::from_secs(a.confirm_timeout.max(1)),
        dry_run: a.dry_run,
        control_dir: control.0.clone(),
        remote_ox: ox_deploy::deploy::remote_ox_path(&exe).map_err(|e| format!("error: {e}\n"))?,
        ox_binary: exe,
    };
    let waves = waves(&a, &selected)?;
    let early = check_elevation(&infos, &opts);
    if a.ask {
        preview_and_ask(&a, &flake, &infos, &store, &opts, action)?;
    }
    let mut reports = run_pass(&a, &flake, &infos, &store, &opts, &waves, &early, action);
    let mut states: Vec<HostState> = reports.iter().map(host_state).collect();
    if a.all_or_nothing && waves.count > 1 && states.iter().any(|s| s.is_bad()) {
        take_back(&infos, &opts, &mut reports, &mut states);
    }
    let failed: Vec<&str> = reports
        .iter()
        .zip(&states)
        .filter(|(_, s)| s.is_bad())
        .map(|(r, _)| r.host.as_str())
        .collect();
    let worst = states.iter().copied().max().unwrap_or(HostState::Unchanged);
    if a.json {
        let hosts: Vec<serde_json::Value> = reports
            .iter()
            .zip(&states)
            .zip(&waves.of_host)
            .map(|((r, s), w)| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["state"] = serde_json::Value::from(s.as_str());
                v["wave"] = serde_json::Value::from(*w);
                v
            })
            .collect();
        let j = serde_json::json!({
            "action": action,
            "ok": failed.is_empty(),
            "state": worst.as_str(),
            "exitCode": worst.exit_code(),
            "waves": waves.count,
            "seconds": started.elapsed().as_secs_f64(),
            "hosts": hosts,
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print!("{}", table(&reports, &states));
        if action == Action::DryActivate {
            for r in &reports {
                println!("\n== {} ==\n{}", r.host, r.log.trim_end());
            }
        }
    }
    let _ = std::io::stdout().flush();
    if failed.is_empty() {
        Ok(ExitCode::from(worst.exit_code()))
    } else {
        eprintln!(
            "error: deploy failed on: {} (worst: {})",
            failed.join(", "),
            worst.as_str()
        );
        Ok(ExitCode::from(worst.exit_code()))
    }
}

/// The elevation password, if asked for: once, from the terminal
/// without echo, or from the first line of `--elevate-password-file`.
fn elevate_password(a: &DeployArgs) -> Result<Option<ox_deploy::Password>, String> {
    if let Some(f) = &a.elevate_password_file {
        let text = std::fs::read_to_string(f).map_err(|e| {
            format!(
                "error: --elevate-password-file {}: {e}; expected a file whose first line is the password\n",
                f.display()
            )
        })?;
        let line = text.lines().next().unwrap_or("").to_string();
        return Ok(Some(ox_deploy::Password::new(line)));
    }
    if !a.ask_elevate_password {
        return Ok(None);
    }
    let pw = read_password_no_echo("password for sudo on the deploy targets: ")?;
    Ok(Some(ox_deploy::Password::new(pw)))
}

/// Reads one line from the controlling terminal with echo off (restored
/// on every path, also when reading fails).
fn read_password_no_echo(prompt: &str) -> Result<String, String> {
    use std::io::BufRead;
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| {
            format!(
                "error: --ask-elevate-password needs a terminal ({e}); for automation use --elevate-password-file FILE\n"
            )
        })?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; fd is open for the calls below
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        return Err("error: --ask-elevate-password: /dev/tty is not a terminal\n".into());
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    let _ = (&tty).write_all(prompt.as_bytes());
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let r = std::io::BufReader::new(&tty).read_line(&mut line);
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    r.map_err(|e| format!("error: reading the password: {e}\n"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Before anything is built: every selected host with a non-root user
/// gets one connection that checks its elevation (with the password, if
/// one was given). Per host: the reason it cannot be deployed.
fn check_elevation(infos: &[HostInfo], opts: &ox_deploy::Options) -> Vec<Option<String>> {
    std::thread::scope(|s| {
        let hs: Vec<_> = infos
            .iter()
            .map(|i| {
                s.spawn(move || {
                    let t = i.target.as_ref().filter(|t| t.user != "root")?;
                    // connecting checks it; unreachable hosts are left to
                    // the deploy, which reports them the usual way
                    match ox_deploy::ssh::Ssh::connect(t, &opts.control_dir) {
                        Err(ox_deploy::Error::Elevation(m)) => Some(m),
                        _ => None,
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(None)).collect()
    })
}

/// Where a host ended, from best to worst: the exit status of `ox
/// deploy` is that of the worst host (docs/deploy.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum HostState {
    /// Already ran this generation (or `--dry-run`: nothing changed).
    Unchanged,
    /// Now on the new generation (for `boot`: its boot default).
    Switched,
    /// Not started, or not activated, because of the rollout policy.
    Skipped,
    /// Activated, then back on the previous generation (its own
    /// rollback, or taken back by `--all-or-nothing`).
    RolledBack,
    /// Failed before its running system changed.
    FailedBeforeActivation,
    /// Failed after the activation started and did not get back for
    /// certain: look at the host.
    FailedAfterActivation,
}

impl HostState {
    fn as_str(self) -> &'static str {
        match self {
            HostState::Unchanged => "unchanged",
            HostState::Switched => "switched",
            HostState::Skipped => "skipped",
            HostState::RolledBack => "rolled-back",
            HostState::FailedBeforeActivation => "failed-before-activation",
            HostState::FailedAfterActivation => "failed-after-activation",
        }
    }
    fn exit_code(self) -> u8 {
        match self {
            HostState::Unchanged | HostState::Switched => 0,
            HostState::Skipped => 2,
            HostState::RolledBack => 3,
            HostState::FailedBeforeActivation => 4,
            HostState::FailedAfterActivation => 5,
        }
    }
    fn is_bad(self) -> bool {
        self > HostState::Switched
    }
}

fn host_state(r: &HostReport) -> HostState {
    match r.status {
        Status::DryRun => HostState::Unchanged,
        Status::Done if r.previous.as_deref() == Some(r.toplevel.as_str()) => HostState::Unchanged,
        // boot/dry-activate leave the running system as it was
        Status::Done if r.action == Action::DryActivate => HostState::Unchanged,
        Status::Done => HostState::Switched,
        Status::Skipped => HostState::Skipped,
        Status::RolledBack => HostState::RolledBack,
        Status::RollbackFailed => HostState::FailedAfterActivation,
        Status::Failed => {
            let refused = r
                .reason
                .as_deref()
                .is_some_and(|s| s.starts_with("activation refused, nothing was changed"));
            if r.activation_started && !refused {
                HostState::FailedAfterActivation
            } else {
                HostState::FailedBeforeActivation
            }
        }
    }
}

/// `--all-or-nothing` across waves: a later wave failed, so the hosts
/// of earlier waves that were switched and confirmed go back to the
/// generation they ran before.
fn take_back(
    infos: &[HostInfo],
    opts: &ox_deploy::Options,
    reports: &mut [HostReport],
    states: &mut [HostState],
) {
    let bad: Vec<String> = reports
        .iter()
        .zip(states.iter())
        .filter(|(_, s)| s.is_bad() && **s != HostState::Skipped)
        .map(|(r, _)| r.host.clone())
        .collect();
    std::thread::scope(|s| {
        let mut hs = Vec::new();
        for ((r, st), info) in reports.iter_mut().zip(states.iter_mut()).zip(infos) {
            if *st != HostState::Switched {
                continue;
            }
            let (Some(t), Some(prev)) = (&info.target, r.previous.clone()) else {
                // a first activation has nothing to go back to
                *st = HostState::FailedAfterActivation;
                r.reason = Some(format!(
                    "could not be taken back after {} failed (--all-or-nothing): no previous generation",
                    bad.join(", ")
                ));
                continue;
            };
            let bad = &bad;
            hs.push(s.spawn(move || {
                match ox_deploy::deploy::revert(t, &prev, opts) {
                    Ok(log) => {
                        *st = HostState::RolledBack;
                        r.status = Status::RolledBack;
                        r.reason = Some(format!(
                            "taken back to {prev}: {} failed in a later wave (--all-or-nothing)",
                            bad.join(", ")
                        ));
                        r.log.push_str(&log);
                    }
                    Err(e) => {
                        *st = HostState::FailedAfterActivation;
                        r.status = Status::RollbackFailed;
                        r.reason = Some(format!(
                            "switched, but going back after {} failed (--all-or-nothing) did not work: {e}",
                            bad.join(", ")
                        ));
                    }
                }
            }));
        }
        for h in hs {
            let _ = h.join();
        }
    });
}

/// The rollout plan: which wave each selected host activates in.
struct Waves {
    /// per host (in selection order)
    of_host: Vec<usize>,
    count: usize,
    /// a failure stops the later waves after this many failures
    max_failures: usize,
}

fn waves(a: &DeployArgs, selected: &[String]) -> Result<Waves, String> {
    let n = selected.len();
    let mut of_host = vec![0usize; n];
    let mut canary = vec![false; n];
    if let Some(c) = a.canary.as_deref().map(str::trim) {
        if let Ok(k) = c.parse::<usize>() {
            if k == 0 || k >= n {
                return Err(format!(
                    "error: --canary {k}: expected a number of hosts between 1 and {} (the selected hosts but one)\n",
                    n.saturating_sub(1)
                ));
            }
            canary[..k].iter_mut().for_each(|c| *c = true);
        } else {
            for h in c.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match selected.iter().position(|s| s == h) {
                    Some(i) => canary[i] = true,
                    None => {
                        return Err(format!(
                            "error: --canary {h}: not one of the selected hosts ({})\n",
                            selected.join(", ")
                        ))
                    }
                }
            }
            if canary.iter().all(|c| *c) {
                return Err("error: --canary names every selected host: nothing would come after the canaries\n".into());
            }
        }
    }
    let rest = canary.iter().filter(|c| !**c).count();
    let size = match a.batch.as_deref().map(str::trim) {
        None => rest.max(1),
        Some(b) => {
            let bad = || {
                format!("error: --batch {b}: expected a number of hosts (`3`) or a percentage of the selected hosts (`25%`), at least 1\n")
            };
            match b.strip_suffix('%') {
                Some(p) => {
                    let p: usize = p.trim().parse().map_err(|_| bad())?;
                    if p == 0 || p > 100 {
                        return Err(bad());
                    }
                    // of all selected hosts, rounded up: never 0
                    (n * p).div_ceil(100).max(1)
                }
                None => b.parse::<usize>().ok().filter(|k| *k > 0).ok_or_else(bad)?,
            }
        }
    };
    let first = usize::from(canary.iter().any(|c| *c));
    let mut k = 0;
    for i in 0..n {
        if canary[i] {
            of_host[i] = 0;
        } else {
            of_host[i] = first + k / size;
            k += 1;
        }
    }
    let count = of_host.iter().copied().max().map_or(0, |m| m + 1);
    let policy = a.batch.is_some() || a.canary.is_some();
    Ok(Waves {
        of_host,
        count,
        // waves without --max-failures: the first failure stops the rest
        max_failures: match (a.max_failures, policy) {
            (Some(m), _) => m.max(1),
            (None, true) => 1,
            (None, false) => usize::MAX,
        },
    })
}

/// Coordinates the waves: a host of wave `w` activates only when every
/// host of the earlier waves has ended (confirmed or failed), and not at
/// all once the failures reached the limit.
struct WaveGate {
    m: Mutex<WaveCounts>,
    cv: std::sync::Condvar,
    max_failures: usize,
}

struct WaveCounts {
    /// hosts of each wave that have not ended yet
    left: Vec<usize>,
    /// hosts of each wave that failed
    failed: Vec<usize>,
}

impl WaveGate {
    fn new(w: &Waves) -> WaveGate {
        let mut left = vec![0; w.count];
        for &i in &w.of_host {
            left[i] += 1;
        }
        WaveGate {
            m: Mutex::new(WaveCounts {
                failed: vec![0; w.count],
                left,
            }),
            cv: std::sync::Condvar::new(),
            max_failures: w.max_failures,
        }
    }

    /// Waits for the waves before `wave` to end; `Err(failures)`: they
    /// failed too often, `wave` is stopped. A failure in `wave` itself or
    /// a later one (a build, while this one waits) stops only later waves.
    fn wait_turn(&self, wave: usize) -> Result<(), usize> {
        let mut g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let before: usize = g.failed[..wave].iter().sum();
            if before >= self.max_failures {
                return Err(before);
            }
            if g.left[..wave].iter().all(|l| *l == 0) {
                return Ok(());
            }
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Whether a host of `wave` not started yet should be skipped: with
    /// a single wave, once the failures reached the limit (`-j` limits
    /// how many are under way); with several, once the earlier waves
    /// reached it.
    fn stopped(&self, wave: usize, single: bool) -> Option<usize> {
        let g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        let n: usize = if single {
            g.failed.iter().sum()
        } else {
            g.failed[..wave].iter().sum()
        };
        (n >= self.max_failures).then_some(n)
    }

    fn ended(&self, wave: usize, failed: bool) {
        let mut g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        g.left[wave] -= 1;
        if failed {
            g.failed[wave] += 1;
        }
        self.cv.notify_all();
    }
}

/// The gate one host passes: its wave's turn first, then (with
/// `--all-or-nothing`) the barriers of its wave.
struct HostGate<'a> {
    waves: &'a WaveGate,
    wave: usize,
    fleet: Option<&'a FleetGate>,
    /// set when the wave policy kept it from activating
    stopped: Mutex<Option<usize>>,
}

impl ox_deploy::Gate for HostGate<'_> {
    fn activate(&self) -> bool {
        if let Err(n) = self.waves.wait_turn(self.wave) {
            *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
            if let Some(f) = self.fleet {
                f.gone(false);
            }
            return false;
        }
        self.fleet.is_none_or(|f| f.activate())
    }
    fn confirm(&self, ok: bool) -> bool {
        // a host the policy stopped was already counted past the barriers
        if self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return false;
        }
        self.fleet.is_none_or(|f| f.confirm(ok))
    }
    fn gone(&self, ok: bool) {
        if let Some(f) = self.fleet {
            f.gone(ok);
        }
    }
}

/// `--all-or-nothing`: two barriers every host passes (or is counted
/// past when it stops early), before activating and before confirming.
struct FleetGate {
    total: usize,
    m: Mutex<GateCounts>,
    cv: std::sync::Condvar,
}

#[derive(Default)]
struct GateCounts {
    at_activate: usize,
    at_confirm: usize,
    failed: bool,
}

impl FleetGate {
    fn new(total: usize) -> FleetGate {
        FleetGate {
            total,
            m: Mutex::new(GateCounts::default()),
            cv: std::sync::Condvar::new(),
        }
    }

    fn wait(
        &self,
        arrive: impl FnOnce(&mut GateCounts),
        all: impl Fn(&GateCounts) -> bool,
    ) -> bool {
        let mut g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        arrive(&mut g);
        self.cv.notify_all();
        while !all(&g) {
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        !g.failed
    }
}

impl ox_deploy::Gate for FleetGate {
    fn activate(&self) -> bool {
        self.wait(|g| g.at_activate += 1, |g| g.at_activate >= self.total)
    }
    fn confirm(&self, ok: bool) -> bool {
        self.wait(
            |g| {
                g.at_confirm += 1;
                g.failed |= !ok;
            },
            |g| g.at_confirm >= self.total,
        )
    }
    fn gone(&self, ok: bool) {
        let mut g = self.m.lock().unwrap_or_else(|p| p.into_inner());
        g.at_activate += 1;
        g.at_confirm += 1;
        g.failed |= !ok;
        self.cv.notify_all();
    }
}

#[allow(clippy::too_many_arguments)]
fn deploy_one(
    a: &DeployArgs,
    flake: &str,
    info: &HostInfo,
    store: &ox_localstore::Store,
    opts: &ox_deploy::Options,
    gate: &dyn ox_deploy::Gate,
    ui: &Ui,
    i: usize,
    action: Action,
) -> HostReport {
    let Some(target) = &info.target else {
        gate.gone(false);
        return failed_report(
            &None,
            &info.name,
            action,
            "deployment.targetHost is null: expected an address to deploy to".into(),
        );
    };
    ui.set(i, "build", "build".into());
    let t = Instant::now();
    let top = match build_host(a, flake, &info.name) {
        Ok(t) => t,
        Err(e) => {
            gate.gone(false);
            return failed_report(&info.target, &info.name, action, e);
        }
    };
    let build_secs = t.elapsed().as_secs_f64();
    let sp = match store.parse(&top) {
        Ok(p) => p,
        Err(e) => {
            gate.gone(false);
            return failed_report(&info.target, &info.name, action, e.to_string());
        }
    };
    let progress = |p: Phase| {
        if matches!(p, Phase::Finished) {
            // the worker prints the outcome itself
            return;
        }
        let (k, m) = phase_text(&p);
        ui.set(i, k, m);
    };
    let mut rep = ox_deploy::deploy_host(store, target, &sp, &info.checks, opts, gate, &progress);
    rep.seconds.build = build_secs;
    rep
}

/// Builds and deploys every host, at most `-j` at once, activating
/// them wave after wave.
#[allow(clippy::too_many_arguments)] // the pass's whole context
fn run_pass(
    a: &DeployArgs,
    flake: &str,
    infos: &[HostInfo],
    store: &ox_localstore::Store,
    opts: &ox_deploy::Options,
    waves: &Waves,
    early: &[Option<String>],
    action: Action,
) -> Vec<HostReport> {
    let names: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
    let ui = Ui::new(&names);
    let wave_gate = WaveGate::new(waves);
    // --all-or-nothing: the barriers hold within each wave
    let fleets: Vec<FleetGate> = (0..waves.count)
        .map(|w| FleetGate::new(waves.of_host.iter().filter(|x| **x == w).count()))
        .collect();
    let aon = a.all_or_nothing && !opts.dry_run;
    // a dry run activates nothing: no waves to wait for
    let policy = !opts.dry_run;
    // the barriers need every host under way at once
    let jobs = if a.all_or_nothing {
        infos.len()
    } else {
        a.jobs.unwrap_or(10).max(1).min(infos.len())
    };
    let queue = Mutex::new((0..infos.len()).collect::<std::collections::VecDeque<_>>());
    let reports: Mutex<Vec<Option<HostReport>>> = Mutex::new(vec![None; infos.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some(i) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                    break;
                };
                let info = &infos[i];
                let wave = waves.of_host[i];
                let fleet = aon.then(|| &fleets[wave]);
                let skip = |failed: usize, started: bool| {
                    let mut r = failed_report(
                        &info.target,
                        &info.name,
                        action,
                        format!(
                            "{}: {failed} host(s) failed{}; nothing changed here",
                            if started {
                                "not activated"
                            } else {
                                "not started"
                            },
                            if waves.count > 1 {
                                format!(
                                    " before wave {} (--max-failures {})",
                                    wave + 1,
                                    waves.max_failures
                                )
                            } else {
                                format!(" (--max-failures {})", waves.max_failures)
                            }
                        ),
                    );
                    r.status = Status::Skipped;
                    r
                };
                let rep = match wave_gate.stopped(wave, waves.count == 1) {
                    // its elevation was refused up front: nothing built
                    _ if early[i].is_some() => {
                        if let Some(f) = fleet {
                            f.gone(false);
                        }
                        failed_report(
                            &info.target,
                            &info.name,
                            action,
                            early[i].clone().unwrap_or_default(),
                        )
                    }
                    Some(n) if policy => {
                        if let Some(f) = fleet {
                            f.gone(false);
                        }
                        skip(n, false)
                    }
                    _ => {
                        let hg = HostGate {
                            waves: &wave_gate,
                            wave: if policy { wave } else { 0 },
                            fleet,
                            stopped: Mutex::new(None),
                        };
                        let rep = deploy_one(a, flake, info, store, opts, &hg, &ui, i, action);
                        let stopped = *hg.stopped.lock().unwrap_or_else(|p| p.into_inner());
                        match stopped {
                            Some(n) => {
                                let mut s = skip(n, true);
                                s.toplevel = rep.toplevel;
                                s.previous = rep.previous;
                                s.closure_paths = rep.closure_paths;
                                s.copied_paths = rep.copied_paths;
                                s.copied_bytes = rep.copied_bytes;
                                s.ox_copied = rep.ox_copied;
                                s.seconds = rep.seconds;
                                s
                            }
                            None => rep,
                        }
                    }
                };
                let st = host_state(&rep);
                wave_gate.ended(wave, st.is_bad() && st != HostState::Skipped);
                let line = match &rep.reason {
                    Some(r) if rep.status != Status::Done => {
                        format!("{}: {}", st.as_str(), r)
                    }
                    _ => format!(
                        "{} ({} paths, {} copied)",
                        st.as_str(),
                        rep.copied_paths,
                        mib(rep.copied_bytes)
                    ),
                };
                ui.finish(i, line);
                reports.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(rep);
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// `--ask`: a dry run of every selected host, then one preview of the
/// whole fleet (what each host would copy, its diff against the
/// generation it runs now) and one question. Any host that cannot be
/// reached or built stops it here, before anything changed.
fn preview_and_ask(
    a: &DeployArgs,
    flake: &str,
    infos: &[HostInfo],
    store: &ox_localstore::Store,
    opts: &ox_deploy::Options,
    action: Action,
) -> Result<(), String> {
    let dry = ox_deploy::Options {
        action: opts.action,
        confirm_timeout: opts.confirm_timeout,
        dry_run: true,
        control_dir: opts.control_dir.clone(),
        ox_binary: opts.ox_binary.clone(),
        remote_ox: opts.remote_ox.clone(),
    };
    let one = Waves {
        of_host: vec![0; infos.len()],
        count: 1,
        max_failures: usize::MAX,
    };
    let none = vec![None; infos.len()];
    let reports = run_pass(a, flake, infos, store, &dry, &one, &none, action);
    let color = crate::stderr_color();
    let mut bad = Vec::new();
    for r in &reports {
        eprintln!("\n== {} ({}) ==", r.host, r.target);
        if r.status != Status::DryRun {
            eprintln!(
                "cannot deploy: {}",
                r.reason.as_deref().unwrap_or("unknown error")
            );
            bad.push(r.host.as_str());
            continue;
        }
        eprintln!("{}", r.reason.as_deref().unwrap_or("nothing to copy"));
        let real = |p: &str| -> Option<PathBuf> {
            let sp = store.parse(p).ok()?;
            store.is_valid(&sp).ok()?.then(|| store.real_path(&sp))
        };
        match r.previous.as_deref() {
            None => eprintln!("first activation on this host"),
            Some(prev) if prev == r.toplevel => eprintln!("already running this generation"),
            Some(prev) => match (real(prev), real(&r.toplevel)) {
                (Some(old), Some(new)) => match ox_system::diff::diff(&old, &new) {
                    Ok(d) => {
                        let text = d.render(color);
                        if text.trim().is_empty() {
                            eprintln!("no changes to files, units, users or packages");
                        } else {
                            eprint!("{text}");
                        }
                    }
                    Err(e) => eprintln!("(no diff: {e})"),
                },
                _ => eprintln!(
                    "(no diff: the running generation {prev} is not in this machine's store)"
                ),
            },
        }
    }
    if !bad.is_empty() {
        return Err(format!(
            "error: cannot deploy to {}; nothing was changed anywhere\n",
            bad.join(", ")
        ));
    }
    if !std::io::stdin().is_terminal() && std::env::var_os("OX_ASSUME_TTY").is_none() {
        return Err("error: --ask needs a terminal to answer on\n".into());
    }
    eprint!(
        "\n{} {} host{}? [y/N] ",
        action.as_str(),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    let mut ans = String::new();
    let _ = std::io::stdin().read_line(&mut ans);
    if !matches!(ans.trim(), "y" | "Y" | "yes") {
        return Err("aborted; nothing was changed\n".into());
    }
    Ok(())
}

fn table(reports: &[HostReport], states: &[HostState]) -> String {
    let mut rows = vec![[
        "host".to_string(),
        "target".into(),
        "result".into(),
        "copied".into(),
        "time".into(),
        "reason".into(),
    ]];
    for (r, st) in reports.iter().zip(states) {
        let secs = r.seconds.build
            + r.seconds.connect
            + r.seconds.copy
            + r.seconds.activate
            + r.seconds.confirm;
        rows.push([
            r.host.clone(),
            r.target.clone(),
            st.as_str().to_string(),
            format!(
                "{} paths, {}{}",
                r.copied_paths,
                mib(r.copied_bytes),
                if r.ox_copied { " +ox" } else { "" }
            ),
            format!("{secs:.1} s"),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    crate::host_cmd::columns(&rows)
}

/// A private directory for control sockets, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TempDir, String> {
    use std::os::unix::fs::DirBuilderExt;
    // short: a unix socket path is limited to 108 bytes
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let p = base.join(format!("ox-deploy-{}-{n}", std::process::id()));
        if std::fs::DirBuilder::new().mode(0o700).create(&p).is_ok() {
            return Ok(TempDir(p));
        }
    }
    Err("error: cannot create a private directory for ssh control sockets\n".into())
}

#[cfg(test)]
mod tests {
    use super::{glob, waves, DeployArgs, FleetGate};
    use ox_deploy::Gate;

    #[derive(clap::Parser)]
    struct P {
        #[command(flatten)]
        a: DeployArgs,
    }

    /// The wave of each of five hosts a..e, and the failure limit.
    fn plan(args: &[&str]) -> Result<(Vec<usize>, usize), String> {
        use clap::Parser;
        let p = P::try_parse_from(std::iter::once("deploy").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        let sel: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
        waves(&p.a, &sel).map(|w| (w.of_host, w.max_failures))
    }

    #[test]
    fn rollout_waves() {
        assert_eq!(plan(&[]).unwrap(), (vec![0; 5], usize::MAX));
        assert_eq!(plan(&["--batch", "2"]).unwrap(), (vec![0, 0, 1, 1, 2], 1));
        // percentages of the selected hosts, rounded up
        assert_eq!(plan(&["--batch", "40%"]).unwrap().0, vec![0, 0, 1, 1, 2]);
        assert_eq!(plan(&["--batch", "30%"]).unwrap().0, vec![0, 0, 1, 1, 2]);
        assert_eq!(plan(&["--batch", "1%"]).unwrap().0, vec![0, 1, 2, 3, 4]);
        assert_eq!(plan(&["--batch", "100%"]).unwrap().0, vec![0; 5]);
        // canaries alone first, then the rest in its batches
        assert_eq!(
            plan(&["--canary", "c", "--batch", "2"]).unwrap().0,
            vec![1, 1, 0, 2, 2]
        );
        assert_eq!(plan(&["--canary", "2"]).unwrap().0, vec![0, 0, 1, 1, 1]);
        assert_eq!(plan(&["--canary", "b,d"]).unwrap().0, vec![1, 0, 1, 0, 1]);
        assert_eq!(plan(&["--batch", "2", "--max-failures", "3"]).unwrap().1, 3);
        assert_eq!(plan(&["--max-failures", "2"]).unwrap().1, 2);
        for bad in [
            &["--batch", "0"][..],
            &["--batch", "0%"],
            &["--batch", "150%"],
            &["--batch", "two"],
            &["--canary", "0"],
            &["--canary", "5"],
            &["--canary", "zz"],
            &["--canary", "a,b,c,d,e"],
        ] {
            let e = plan(bad).expect_err(&format!("{bad:?} accepted"));
            assert!(e.contains(bad[0]), "{bad:?}: {e}");
        }
    }

    #[test]
    fn fleet_gate_waits_for_every_host_and_fails_for_all() {
        // all three arrive: everyone may go on, at both barriers
        let g = FleetGate::new(3);
        let r: Vec<(bool, bool)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|_| s.spawn(|| (g.activate(), g.confirm(true))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(r, vec![(true, true); 3]);
        // one host stops before activating: nobody activates
        let g = FleetGate::new(3);
        let r: Vec<bool> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2).map(|_| s.spawn(|| g.activate())).collect();
            std::thread::sleep(std::time::Duration::from_millis(50));
            g.gone(false);
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(r, vec![false, false]);
        // one activation fails: nobody is confirmed
        let g = FleetGate::new(2);
        let r: Vec<bool> = std::thread::scope(|s| {
            let a = s.spawn(|| {
                g.activate();
                g.confirm(true)
            });
            let b = s.spawn(|| {
                g.activate();
                g.confirm(false)
            });
            vec![a.join().unwrap(), b.join().unwrap()]
        });
        assert_eq!(r, vec![false, false]);
    }

    #[test]
    fn globs() {
        assert!(glob("web*", "web1"));
        assert!(glob("*", "x"));
        assert!(glob("rack-*-a", "rack-1-a"));
        assert!(!glob("rack-*-a", "rack-1-b"));
        assert!(!glob("web", "web1"));
    }
}
